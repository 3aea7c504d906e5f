"""What a database-query segment may use: the CRM data tables, SQL constructs, functions and types.

Everything not listed here is refused (query_check.py), named in the error. The lists are data, shared
by the check, the SQLite authorizer, the PostgreSQL role's grants (migrations) and the tests.

**CRM data** is what the host CRM sends in about its customers and what the plugin derives about
them, never the plugin's own machinery:

- readable: profiles, quotes and their lines, jobs and their lines, opportunities, support tickets,
  products and categories, tags and the tags on profiles, quotes, jobs and opportunities, RFM scores
  and segment membership;
- never readable: accounts and credentials (users, API keys); the plugin's configuration and
  operation (segment definitions with their queries and errors, auto-tag rules, workflows, message
  templates, background tasks, scheduler jobs and leases, channel pauses, bulk operations); audit
  trails (tag, consent and segment events, bulk operation items, tag suppressions); messaging
  (messages with their rendered bodies and addresses, provider events and payloads, workflow
  enrollments and steps).

A new CRM data table is added to ``DATA_TABLES`` and granted to ``QUERY_ROLE`` by its migration;
tests/segments/test_query_role.py fails until both agree.
"""

from __future__ import annotations

from sqlglot import exp

# The PostgreSQL role query segments run as (SET LOCAL ROLE): NOLOGIN, USAGE on the plugin's schema
# and SELECT on DATA_TABLES only. Created by the migrations; see docs/security.md.
QUERY_ROLE = "crm_segments_query"

DATA_TABLES: frozenset[str] = frozenset({
    "crm_profiles",
    "crm_quotes", "crm_quote_lines",
    "crm_jobs", "crm_job_lines",
    "crm_opportunities",
    "crm_support_tickets",
    "crm_products", "crm_categories",
    "crm_tags", "crm_profile_tags", "crm_quote_tags", "crm_job_tags", "crm_opportunity_tags",
    "crm_rfm_scores",
    "crm_segment_members",
})

# Query structure: SELECT and its clauses, joins, subqueries, CTEs, set operations, literals.
STRUCTURE: frozenset[type[exp.Expr]] = frozenset({
    exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery, exp.With, exp.CTE,
    exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered, exp.Limit,
    exp.Offset, exp.Distinct, exp.Table, exp.TableAlias, exp.Column, exp.Identifier, exp.Star,
    exp.Alias, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Tuple, exp.Interval, exp.Cast,
    exp.DataType, exp.DataTypeParam, exp.Case, exp.If, exp.Window, exp.WindowSpec, exp.Filter,
    exp.WithinGroup, exp.Exists, exp.Any, exp.All, exp.Var,
})

# Operators: logic, comparison, arithmetic, pattern matching, string concatenation, JSON fields.
OPERATORS: frozenset[type[exp.Expr]] = frozenset({
    exp.And, exp.Or, exp.Not, exp.Neg, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE,
    exp.NullSafeEQ, exp.NullSafeNEQ, exp.Is, exp.In, exp.Between, exp.Like, exp.ILike,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.DPipe, exp.AtTimeZone,
    exp.JSONExtract, exp.JSONExtractScalar, exp.JSONBExtract, exp.JSONBExtractScalar,
    exp.JSONPath, exp.JSONPathRoot, exp.JSONPathKey, exp.JSONPathSubscript,
})
POSTGRES_OPERATORS: frozenset[type[exp.Expr]] = frozenset({exp.RegexpLike, exp.RegexpILike})

# Functions sqlglot knows by class, with the SQL names they are written as.
FUNCTIONS: dict[type[exp.Func], str] = {
    # aggregates
    exp.Count: "count", exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max",
    exp.LogicalAnd: "bool_and", exp.LogicalOr: "bool_or", exp.GroupConcat: "string_agg / group_concat",
    exp.Stddev: "stddev", exp.StddevSamp: "stddev_samp", exp.StddevPop: "stddev_pop",
    exp.Variance: "variance / var_samp", exp.VariancePop: "var_pop",
    # conditional
    exp.Coalesce: "coalesce / ifnull", exp.Nullif: "nullif", exp.Greatest: "greatest",
    exp.Least: "least",
    # arithmetic
    exp.Abs: "abs", exp.Round: "round", exp.Ceil: "ceil", exp.Floor: "floor", exp.Pow: "power",
    exp.Sqrt: "sqrt", exp.Sign: "sign", exp.Ln: "ln", exp.Log: "log", exp.Exp: "exp",
    # strings
    exp.Lower: "lower", exp.Upper: "upper", exp.Length: "length", exp.Trim: "trim / ltrim / rtrim",
    exp.Substring: "substring / substr", exp.Replace: "replace", exp.Concat: "concat",
    exp.ConcatWs: "concat_ws", exp.StrPosition: "position / strpos / instr",
    # date and time
    exp.Extract: "extract", exp.CurrentDate: "current_date", exp.CurrentTimestamp: "now / current_timestamp",
    # window functions
    exp.RowNumber: "row_number", exp.Rank: "rank", exp.DenseRank: "dense_rank",
    exp.PercentRank: "percent_rank", exp.CumeDist: "cume_dist", exp.Ntile: "ntile", exp.Lag: "lag",
    exp.Lead: "lead", exp.FirstValue: "first_value", exp.LastValue: "last_value",
    exp.NthValue: "nth_value",
}
POSTGRES_FUNCTIONS: dict[type[exp.Func], str] = {
    exp.PercentileCont: "percentile_cont", exp.PercentileDisc: "percentile_disc",
    exp.Trunc: "trunc", exp.Left: "left", exp.Right: "right", exp.Pad: "lpad / rpad",
    exp.SplitPart: "split_part", exp.Initcap: "initcap", exp.StartsWith: "starts_with",
    exp.TimestampTrunc: "date_trunc", exp.DateTrunc: "date_trunc", exp.TimeToStr: "to_char",
    exp.StrToDate: "to_date", exp.StrToTime: "to_timestamp", exp.UnixToTime: "to_timestamp",
}
SQLITE_FUNCTIONS: dict[type[exp.Func], str] = {
    exp.Date: "date", exp.TimeToStr: "strftime", exp.TsOrDsToTimestamp: "strftime",
}
# Functions sqlglot does not know (exp.Anonymous), by the name PostgreSQL / SQLite calls.
POSTGRES_NAMED: frozenset[str] = frozenset({"age", "make_date"})
SQLITE_NAMED: frozenset[str] = frozenset({"date", "time", "datetime", "julianday", "strftime", "unixepoch"})

# Casts: numbers, text, dates and times, booleans, JSON. Never a type whose input reads the catalog
# (regclass and the other reg* types), arrays, XML or a type of the host's.
DATA_TYPES: frozenset[exp.DType] = frozenset({
    exp.DataType.Type.SMALLINT, exp.DataType.Type.INT, exp.DataType.Type.BIGINT,
    exp.DataType.Type.DECIMAL, exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE,
    exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR,
    exp.DataType.Type.DATE, exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ,
    exp.DataType.Type.INTERVAL, exp.DataType.Type.BOOLEAN, exp.DataType.Type.JSON,
    exp.DataType.Type.JSONB,
})

# A bare word (exp.Var) is only a unit or a field name inside these.
VAR_PARENTS: tuple[type[exp.Expr], ...] = (exp.Extract, exp.Interval, exp.TimestampTrunc, exp.DateTrunc)

# The functions SQLite itself calls for the SQL the check lets through (its authorizer allows only
# these): the functions above, LIKE, and the JSON operators -> and ->>.
SQLITE_CALLS: frozenset[str] = frozenset({
    "count", "sum", "total", "avg", "min", "max", "group_concat", "coalesce", "ifnull", "nullif",
    "iif", "abs", "round", "ceil", "ceiling", "floor", "power", "pow", "sqrt", "sign", "ln", "log",
    "exp", "lower", "upper", "length", "trim", "ltrim", "rtrim", "substr", "substring", "replace",
    "concat", "concat_ws", "instr", "like", "->", "->>", "json_extract", "current_date",
    "current_time", "current_timestamp", "date", "time", "datetime", "julianday", "strftime",
    "unixepoch", "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag",
    "lead", "first_value", "last_value", "nth_value",
})


def allowed_nodes(dialect: str) -> frozenset[type[exp.Expr]]:
    extra = POSTGRES_OPERATORS if dialect == "postgresql" else frozenset()
    return STRUCTURE | OPERATORS | extra


def allowed_functions(dialect: str) -> dict[type[exp.Func], str]:
    extra = POSTGRES_FUNCTIONS if dialect == "postgresql" else SQLITE_FUNCTIONS
    return {**FUNCTIONS, **extra}


def allowed_names(dialect: str) -> frozenset[str]:
    return POSTGRES_NAMED if dialect == "postgresql" else SQLITE_NAMED

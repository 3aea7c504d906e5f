"""Every name in the database's own catalog through the query-segment check.

PostgreSQL (with every extension the server offers installed, in a transaction rolled back afterwards):
every function in pg_proc, every keyword and argument-less function without parentheses, every relation
in pg_class of every schema, every operator and every type. SQLite: every function, table, pragma and
table-valued function it knows.

What the check accepts must be on the reviewed lists below, and none of it may have side effects
(volatile or SECURITY DEFINER functions on PostgreSQL, direct-only functions on SQLite). The only
relations it accepts are the CRM data tables. Every accepted query, run the way a query segment runs, is
never refused by the store's own guard (the read-only role, SQLite's authorizer): it reads nothing else.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pytest
import sqlglot.dialects.sqlite
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError

from crm_segments.db import make_engine
from crm_segments.kernel.errors import ValidationFailed
from crm_segments.segments import query_segments
from crm_segments.segments.query_allowlist import DATA_TABLES, SQLITE_CALLS
from crm_segments.segments.query_check import checked_sql
from crm_segments.segments.query_segments import QueryFailed

# Reviewed: the PostgreSQL functions a query segment may name (pure arithmetic, text, date and time,
# aggregates and window functions over the rows it reads). A name the check newly accepts fails the
# tests until it is reviewed and added here.
POSTGRES_FUNCTIONS = frozenset({
    "abs", "age", "avg", "bool_and", "bool_or", "btrim", "ceil", "ceiling", "char_length",
    "character_length", "concat", "concat_ws", "count", "cume_dist", "date_part", "date_trunc",
    "dense_rank", "exp", "extract", "first_value", "floor", "initcap", "json_extract_path",
    "json_extract_path_text", "lag", "last_value", "lead", "left", "length", "like", "ln", "log", "log10",
    "lower", "lpad", "ltrim", "make_date", "max", "min", "mod", "now", "nth_value", "ntile",
    "percent_rank", "percentile_cont", "percentile_disc", "position", "pow", "power", "rank",
    "regexp_like", "replace", "right", "round", "row_number", "rpad", "rtrim", "sign", "split_part",
    "sqrt", "starts_with", "stddev", "stddev_pop", "stddev_samp", "string_agg", "strpos", "substr",
    "substring", "sum", "to_char", "to_date", "to_timestamp", "trunc", "upper", "var_pop", "var_samp",
    "variance",
})
# Words without parentheses that the check reads as something other than a column.
POSTGRES_KEYWORDS = frozenset({"current_date", "current_timestamp", "true", "false", "null", "not", "any"})
POSTGRES_OPERATORS = frozenset({
    "+", "-", "*", "/", "%", "^", "|/", "||", "=", "<>", "<", "<=", ">", ">=", "~", "~*", "!~", "!~*",
    "~~", "~~*", "!~~", "!~~*", "^@", "->", "->>", "#>", "#>>", "!!",
    "<=>",  # the cube extension's distance, read as MySQL's null-safe equality: IS NOT DISTINCT FROM
})
POSTGRES_TYPES = frozenset({
    "bool", "int2", "int4", "int8", "numeric", "float4", "float8", "text", "varchar", "bpchar", "char",
    "date", "timestamp", "timestamptz", "interval", "json", "jsonb",
})
# The words outside quotes of the SQL that PostgreSQL runs for all of the above: the functions it
# calls (TRIM is btrim, ltrim and rtrim), types and plain syntax. Everything else there is a quoted name.
POSTGRES_CALLS = frozenset({
    "abs", "age", "avg", "bool_and", "bool_or", "ceil", "concat", "concat_ws", "count", "cume_dist",
    "date_trunc", "dense_rank", "exp", "extract", "first_value", "floor", "initcap", "lag", "last_value",
    "lead", "left", "length", "ln", "log", "lower", "lpad", "make_date", "max", "min", "nth_value", "ntile",
    "percent_rank", "percentile_cont", "percentile_disc", "position", "power", "rank", "replace", "right",
    "round", "row_number", "rpad", "sign", "split_part", "sqrt", "starts_with", "stddev", "stddev_pop",
    "stddev_samp", "string_agg", "substring", "sum", "to_char", "to_date", "to_timestamp", "trim",
    "trunc", "upper", "var_pop", "var_samp", "ltrim", "rtrim",
})
POSTGRES_SYNTAX = frozenset({
    "select", "from", "where", "and", "or", "not", "is", "null", "true", "false", "in", "any", "like",
    "ilike", "distinct", "over", "within", "group", "order", "by", "leading", "trailing", "both", "for",
    "cast", "as", "interval", "current_date", "current_timestamp",
    "smallint", "int", "bigint", "decimal", "real", "double", "precision", "text", "varchar", "char",
    "boolean", "date", "timestamp", "timestamptz", "json", "jsonb",
    "id",  # a unit of EXTRACT, where these tries pass the column id: EXTRACT(ID FROM "id")
})
# The pure functions behind the SQL words above, in pg_proc.
POSTGRES_PURE = POSTGRES_FUNCTIONS | POSTGRES_CALLS - {"trim"} | {"btrim", "ltrim", "rtrim"}

SQLITE_FUNCTIONS = frozenset({
    "abs", "avg", "ceil", "ceiling", "coalesce", "count", "cume_dist", "current_date",
    "current_timestamp", "date", "datetime", "dense_rank", "exp", "first_value", "floor", "group_concat",
    "ifnull", "iif", "instr", "json_extract", "julianday", "lag", "last_value", "lead", "length", "like",
    "ln", "log", "log10", "log2", "lower", "ltrim", "max", "min", "mod", "nth_value", "ntile", "nullif",
    "percent_rank", "pow", "power", "rank", "replace", "round", "row_number", "rtrim", "sign", "sqrt",
    "strftime", "substr", "substring", "sum", "time", "trim", "unixepoch", "upper",
})
SQLITE_DIRECT_ONLY = 0x80000  # SQLITE_DIRECTONLY: a function with side effects (load_extension ...)

_PLAIN = re.compile(r"[a-z_][a-z0-9_]*")
_WORDS = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'|([A-Za-z_][A-Za-z0-9_]*)')
_CALLS = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\(")


def accepted(sql: str, dialect: str) -> str | None:
    """The SQL that would run for ``sql``, or None when the check refuses it."""
    try:
        return checked_sql(sql, dialect=dialect)
    except ValidationFailed:
        return None


def unquoted_words(sql: str) -> set[str]:
    """The words of ``sql`` outside quoted names and string literals, lower case."""
    return {m.group(1).lower() for m in _WORDS.finditer(sql) if m.group(1)}


def spellings(name: str) -> Iterator[str]:
    """``name`` bare (where bare is the same name) and quoted."""
    if _PLAIN.fullmatch(name):
        yield name
    yield '"' + name.replace('"', '""') + '"'


def call(name: str, nargs: int, window: bool) -> str:
    """A query that calls ``name`` with ``nargs`` arguments (a window function over a window).

    Bare names only: a quoted or schema-qualified function is refused whatever it names
    (test_query_check.py), and a name with capitals is another name when bare.
    """
    args = ", ".join(["id"] * nargs)
    return f"SELECT id FROM crm_profiles WHERE {name}({args}){' OVER ()' if window else ''} IS NOT NULL"


def bare(name: str) -> str:
    """``name`` without parentheses: a column, unless the check reads it as a keyword (current_date)."""
    return f"SELECT id FROM crm_profiles WHERE {name} IS NOT NULL"


@dataclass
class Accepted:
    """What the check accepted, by the catalog name tried: the query tried -> the SQL that runs."""

    functions: dict[str, dict[str, str]]
    keywords: dict[str, str]
    relations: dict[str, dict[str, str]]
    operators: dict[str, dict[str, str]]
    types: dict[str, str]

    def runs(self) -> dict[str, str]:
        found = {bare(name): run for name, run in self.keywords.items()}
        found.update({f"CAST(id AS {name})": run for name, run in self.types.items()})
        for tried in (*self.functions.values(), *self.relations.values(), *self.operators.values()):
            found.update(tried)
        return found


def check_all(dialect: str, *, signatures: Iterable[tuple[str, int, bool]], words: Iterable[str],
              relations: Iterable[str], operators: Iterable[tuple[str, bool]] = (),
              types: Iterable[str] = ()) -> Accepted:
    found = Accepted({}, {}, {}, {}, {})
    for name, nargs, window in set(signatures):
        if _PLAIN.fullmatch(name) and (run := accepted(call(name, nargs, window), dialect)) is not None:
            found.functions.setdefault(name, {})[call(name, nargs, window)] = run
    for name in filter(_PLAIN.fullmatch, set(words)):
        if (run := accepted(bare(name), dialect)) is not None and name not in _quoted_names(run, dialect):
            found.keywords[name] = run
    for name in set(relations):
        for spelt in spellings(name):
            if (run := accepted(f"SELECT 1 FROM {spelt}", dialect)) is not None:
                found.relations.setdefault(name, {})[f"SELECT 1 FROM {spelt}"] = run
    for name, binary in set(operators):
        sql = f"SELECT id FROM crm_profiles WHERE ({'id ' if binary else ''}{name} id) IS NOT NULL"
        if (run := accepted(sql, dialect)) is not None:
            found.operators.setdefault(name, {})[sql] = run
    for name in set(types):
        for spelt in spellings(name):
            sql = f"SELECT id FROM crm_profiles WHERE CAST(id AS {spelt}) IS NOT NULL"
            if (run := accepted(sql, dialect)) is not None:
                found.types[name] = run
    return found


def _quoted_names(run: str, dialect: str) -> set[str]:
    """The names ``run`` reads as columns: quoted on PostgreSQL; on SQLite the word tested for NULL as
    written (sqlglot writes a keyword in capitals)."""
    if dialect == "postgresql":
        return {m.group(0).strip('"') for m in _WORDS.finditer(run) if m.group(0).startswith('"')}
    tested = re.fullmatch(r"SELECT id FROM crm_profiles WHERE (?:NOT )?(\S+) IS (?:NOT )?NULL", run)
    return {tested.group(1).strip('"')} if tested else set()


def guard_refusals(engine: Engine, runs: Iterable[str], refusal: str) -> list[str]:
    """The checked queries that the store's own guard refuses when run the way a query segment runs."""
    refused = []
    for sql in sorted(set(runs)):
        try:
            with query_segments._readonly_rows(engine, sql, timeout_ms=2000, limit=1) as rows:
                list(rows)
        except QueryFailed as exc:  # most fail on their types (lower of an id): only the guard matters
            if str(exc).startswith(refusal):
                refused.append(f"{sql}: {exc}")
    return refused


# --- PostgreSQL ----------------------------------------------------------------------------------

@dataclass
class PostgresCatalog:
    accepted: Accepted
    functions: dict[str, set[tuple[str, bool, bool, str]]]  # volatility, security definer, set, kind
    operators: dict[str, set[tuple[str, bool]]]  # the volatility and security definer of its function
    types: dict[str, set[str]]  # the volatility of its input and output functions
    homes: dict[str, set[tuple[str, str]]]  # relation name -> (schema, kind) of each relation so named
    schema: str  # the plugin's own


def _install_every_extension(connection: Connection) -> None:
    names = connection.scalars(text(
        "SELECT name FROM pg_available_extensions WHERE installed_version IS NULL ORDER BY name")).all()
    for name in names:
        try:
            with connection.begin_nested():
                connection.exec_driver_sql(f'CREATE EXTENSION IF NOT EXISTS "{name}" CASCADE')
        except DBAPIError:
            pass  # one whose library the server lacks


@pytest.fixture(scope="module")
def postgres_catalog(postgresql_url: str) -> Iterator[PostgresCatalog]:
    engine = make_engine(postgresql_url)
    with engine.connect() as connection, connection.begin() as transaction:
        _install_every_extension(connection)
        rows = connection.execute(text(
            "SELECT proname, pronargs, prokind, provolatile, prosecdef, proretset FROM pg_proc")).all()
        operator_rows = connection.execute(text(
            "SELECT o.oprname, o.oprkind, p.provolatile, p.prosecdef FROM pg_operator o "
            "JOIN pg_proc p ON p.oid = o.oprcode")).all()
        type_rows = connection.execute(text(
            "SELECT t.typname, i.provolatile, o.provolatile FROM pg_type t "
            "JOIN pg_proc i ON i.oid = t.typinput JOIN pg_proc o ON o.oid = t.typoutput")).all()
        words = connection.scalars(text("SELECT word FROM pg_get_keywords()")).all()
        relations = connection.execute(text("SELECT n.nspname, c.relname, c.relkind FROM pg_class c "
                                            "JOIN pg_namespace n ON n.oid = c.relnamespace")).all()
        schema = connection.scalar(text("SELECT current_schema()"))
        transaction.rollback()
    engine.dispose()
    found = check_all(
        "postgresql",
        signatures=[(r.proname, r.pronargs, r.prokind == "w") for r in rows],
        words=[*words, *(r.proname for r in rows if r.pronargs == 0)],
        relations=[name for _schema, name, _kind in relations],
        operators=[(r.oprname, r.oprkind == "b") for r in operator_rows],
        types=[name for name, _in, _out in type_rows])
    # Under a schema's name: refused whatever the schema, the CRM data tables under their own included.
    for home, name in {*((r.nspname, r.relname) for r in relations),
                       *((r.nspname, "crm_profiles") for r in relations)}:
        if name in DATA_TABLES:
            for spelt in (f'"{home}"."{name}"', f"{home}.{name}"):
                assert accepted(f"SELECT 1 FROM {spelt}", "postgresql") is None, spelt
    catalog = PostgresCatalog(found, {}, {}, {}, {}, str(schema))
    for r in relations:
        catalog.homes.setdefault(r.relname, set()).add((r.nspname, r.relkind))
    for r in rows:
        catalog.functions.setdefault(r.proname, set()).add(
            (r.provolatile, r.prosecdef, r.proretset, r.prokind))
    for r in operator_rows:
        catalog.operators.setdefault(r.oprname, set()).add((r.provolatile, r.prosecdef))
    for name, input_volatility, output_volatility in type_rows:
        catalog.types.setdefault(name, set()).update({input_volatility, output_volatility})
    yield catalog


@pytest.mark.postgres
def test_postgresql_functions_accepted_are_reviewed_and_pure(postgres_catalog: PostgresCatalog) -> None:
    accepted_names = set(postgres_catalog.accepted.functions)
    assert accepted_names <= POSTGRES_FUNCTIONS, sorted(accepted_names - POSTGRES_FUNCTIONS)
    assert len(accepted_names) > 50  # the catalog was read and the check accepts what it should
    # Every overload in every schema (extensions included) of every function that may run: not
    # volatile (no side effects), not SECURITY DEFINER, no set-returning function or procedure.
    impure = {name: sorted(rows) for name in POSTGRES_PURE & set(postgres_catalog.functions)
              for rows in [postgres_catalog.functions[name]]
              if any(v == "v" or definer or returns_set or kind not in "faw"
                     for v, definer, returns_set, kind in rows)}
    assert impure == {}


@pytest.mark.postgres
def test_postgresql_runs_only_reviewed_words(postgres_catalog: PostgresCatalog) -> None:
    # What PostgreSQL runs, outside quoted names and literals: reviewed calls and syntax only.
    words = set().union(*(unquoted_words(run) for run in postgres_catalog.accepted.runs().values()))
    assert words <= POSTGRES_CALLS | POSTGRES_SYNTAX, sorted(words - POSTGRES_CALLS - POSTGRES_SYNTAX)


@pytest.mark.postgres
def test_postgresql_keywords_are_columns_or_reviewed(postgres_catalog: PostgresCatalog) -> None:
    keywords = set(postgres_catalog.accepted.keywords)
    assert keywords <= POSTGRES_KEYWORDS, sorted(keywords - POSTGRES_KEYWORDS)
    assert accepted(bare("current_user"), "postgresql") is None  # refused, as every other one


@pytest.mark.postgres
def test_postgresql_relations_are_the_crm_data_tables(postgres_catalog: PostgresCatalog) -> None:
    relations = postgres_catalog.accepted.relations
    assert set(relations) == DATA_TABLES, sorted(set(relations) ^ DATA_TABLES)
    # each one the plugin's own table, never a catalog's relation of the same name
    homes = {name: postgres_catalog.homes[name] for name in relations}
    assert all(home == {(postgres_catalog.schema, "r")} for home in homes.values()), homes
    # bare or quoted, never under a schema's name
    assert all(tried in {f"SELECT 1 FROM {s}" for s in spellings(name)}
               for name, runs in relations.items() for tried in runs)


@pytest.mark.postgres
def test_postgresql_operators_and_types_are_reviewed_and_pure(postgres_catalog: PostgresCatalog) -> None:
    operators = set(postgres_catalog.accepted.operators)
    assert operators <= POSTGRES_OPERATORS, sorted(operators - POSTGRES_OPERATORS)
    assert all(v != "v" and not definer
               for name in operators for v, definer in postgres_catalog.operators[name])
    types = set(postgres_catalog.accepted.types)
    assert types <= POSTGRES_TYPES, sorted(types - POSTGRES_TYPES)
    assert all("v" not in postgres_catalog.types[name] for name in types)


@pytest.mark.postgres
def test_postgresql_role_refuses_nothing_the_check_accepts(postgres_catalog: PostgresCatalog,
                                                          postgresql_url: str) -> None:
    engine = make_engine(postgresql_url)
    try:
        refused = guard_refusals(engine, postgres_catalog.accepted.runs().values(), "insufficient privilege")
    finally:
        engine.dispose()
    assert refused == []


# --- SQLite --------------------------------------------------------------------------------------

@dataclass
class SqliteCatalog:
    accepted: Accepted
    flags: dict[str, set[tuple[int, int]]]  # builtin, flags


@pytest.fixture(scope="module")
def sqlite_catalog(sqlite_url: str) -> SqliteCatalog:
    database = make_url(sqlite_url).database
    assert database
    with sqlite3.connect(database) as conn:
        functions = conn.execute(
            "SELECT name, builtin, type, narg, flags FROM pragma_function_list").fetchall()
        relations = [name for (name,) in conn.execute("SELECT name FROM sqlite_master")]
        pragmas = [f"pragma_{name}" for (name,) in conn.execute("SELECT name FROM pragma_pragma_list")]
        modules = [name for (name,) in conn.execute("SELECT name FROM pragma_module_list")]
    conn.close()
    keywords = [k.lower() for k in sqlglot.dialects.sqlite.SQLite.Tokenizer.KEYWORDS if k.isalpha()]
    found = check_all(
        "sqlite",
        signatures=[(name, n, window) for name, _b, kind, narg, _f in functions
                    for n in ([narg] if narg >= 0 else [0, 1, 2, 3]) for window in {False, kind == "w"}],
        words=[*keywords, *(name for name, _b, _k, narg, _f in functions if narg <= 0)],
        relations=[*relations, *pragmas, *modules, "sqlite_master", "sqlite_schema", "sqlite_temp_master",
                   "sqlite_temp_schema", "sqlite_sequence", "sqlite_stat1", "sqlite_dbpage", "sqlite_stmt"])
    flags: dict[str, set[tuple[int, int]]] = {}
    for name, builtin, _kind, _narg, function_flags in functions:
        flags.setdefault(name, set()).add((builtin, function_flags))
    return SqliteCatalog(found, flags)


def test_sqlite_functions_accepted_are_reviewed_and_allowed_by_the_authorizer(
        sqlite_catalog: SqliteCatalog) -> None:
    accepted_names = set(sqlite_catalog.accepted.functions)
    assert accepted_names <= SQLITE_FUNCTIONS, sorted(accepted_names - SQLITE_FUNCTIONS)
    assert len(accepted_names) > 40
    # built in, never a direct-only function (one with side effects)
    assert all(builtin and not flags & SQLITE_DIRECT_ONLY
               for name in accepted_names for builtin, flags in sqlite_catalog.flags[name])
    calls = {name.lower() for run in sqlite_catalog.accepted.runs().values() for name in _CALLS.findall(run)}
    assert calls <= SQLITE_CALLS | {"cast", "exists"}, sorted(calls - SQLITE_CALLS)
    keywords = set(sqlite_catalog.accepted.keywords)
    assert keywords <= POSTGRES_KEYWORDS, sorted(keywords - POSTGRES_KEYWORDS)  # the same words


def test_sqlite_relations_are_the_crm_data_tables(sqlite_catalog: SqliteCatalog) -> None:
    relations = sqlite_catalog.accepted.relations
    assert set(relations) == DATA_TABLES, sorted(set(relations) ^ DATA_TABLES)
    assert all(tried in {f"SELECT 1 FROM {s}" for s in spellings(name)}
               for name, runs in relations.items() for tried in runs)


def test_sqlite_authorizer_refuses_nothing_the_check_accepts(sqlite_catalog: SqliteCatalog,
                                                             sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        refused = guard_refusals(engine, sqlite_catalog.accepted.runs().values(),
                                 "refused by the database's guard")
    finally:
        engine.dispose()
    assert refused == []

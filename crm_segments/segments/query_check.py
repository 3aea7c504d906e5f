"""The check of a database-query segment: one SELECT built only from what query_allowlist.py lists.

The text is parsed with sqlglot and every node of the tree must be on the allowlist: query structure,
operators, functions (by sqlglot class, or by name for functions sqlglot does not know), cast types,
and tables (the CRM data tables, or a CTE in scope). Anything else is refused naming what it is.

What runs is not the text as written but the SQL sqlglot generates from the checked tree, without
comments, with every identifier quoted on PostgreSQL (a column can never turn into a keyword such as
``current_user``). That text is parsed and checked again and must generate itself unchanged, so the
statement the database runs is exactly one the check accepted, however the original was spelt (string
escapes, dollar quotes, nested comments, optimizer hints).
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from crm_segments.kernel.errors import FieldError, ValidationFailed

from .query_allowlist import (
    DATA_TABLES,
    DATA_TYPES,
    VAR_PARENTS,
    allowed_functions,
    allowed_names,
    allowed_nodes,
)

FIELD = "query_sql"
_PLAIN_NAME = re.compile(r"[^\W\d][\w$]*")
_CALL = re.compile(r"(\w+)\(")
MAX_QUERY_LENGTH = 20_000
_SQLGLOT_DIALECTS = {"postgresql": "postgres", "sqlite": "sqlite"}
_NAMES = {  # what a refused node is called in the message, where its sqlglot key is not plain SQL
    exp.Into: "SELECT INTO", exp.Lock: "a locking clause (FOR UPDATE / FOR SHARE)",
    exp.Placeholder: "a parameter", exp.Parameter: "a parameter", exp.Hint: "an optimizer hint",
    exp.Lateral: "LATERAL", exp.TableSample: "TABLESAMPLE", exp.Dot: "a schema-qualified name",
    exp.Values: "VALUES", exp.Bracket: "a subscript ([...])", exp.Array: "ARRAY",
}


def refuse(message: str) -> ValidationFailed:
    return ValidationFailed([FieldError(FIELD, message)])


def validate_query(sql: str, *, dialect: str) -> str:
    """The query text as written (to store) if it passes the check; else ValidationFailed saying why."""
    checked_sql(sql, dialect=dialect)
    return sql.strip().rstrip(";").strip()


def checked_sql(sql: str, *, dialect: str) -> str:
    """The SQL to run for ``sql``: generated from its checked tree and checked again."""
    if not isinstance(sql, str) or not sql.strip():
        raise refuse("enter a SELECT that returns profile ids")
    if len(sql) > MAX_QUERY_LENGTH:
        raise refuse(f"the query is longer than {MAX_QUERY_LENGTH} characters")
    if "\x00" in sql:
        raise refuse("the query contains a NUL character")
    tree = _checked_tree(sql, dialect)
    generated = _generate(tree, dialect)
    again = _checked_tree(generated, dialect)
    if _generate(again, dialect) != generated:
        raise refuse("the query cannot be checked: it does not keep its meaning when rewritten; "
                     "write it more plainly")
    return generated


def _checked_tree(sql: str, dialect: str) -> exp.Expr:
    read = _SQLGLOT_DIALECTS[dialect]
    try:
        parsed = [e for e in sqlglot.parse(sql, read=read) if e is not None]
    except SqlglotError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "cannot parse"
        raise refuse(f"cannot read the query: {first}") from None
    statements = [e for e in parsed if not isinstance(e, exp.Semicolon)]
    if len(statements) != 1:
        raise refuse(f"exactly one SELECT statement is allowed, found {len(statements)}")
    tree = normalize_identifiers(statements[0], dialect=read)
    if not isinstance(tree, exp.Select | exp.SetOperation):
        raise refuse(f"only a SELECT is allowed, not {_name(tree)}")
    for node in tree.walk():
        _check_node(node, dialect)
    if len(tree.selects) != 1 or tree.selects[0].is_star:
        raise refuse("the SELECT must return exactly one column: the profile id")
    return tree


def _generate(tree: exp.Expr, dialect: str) -> str:
    try:
        return tree.sql(dialect=_SQLGLOT_DIALECTS[dialect], identify=dialect == "postgresql",
                        comments=False, unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "unsupported"
        raise refuse(f"the query cannot run on this database: {first}") from None


def _name(node: exp.Expr) -> str:
    for kind, name in _NAMES.items():
        if isinstance(node, kind):
            return name
    return node.key.upper()


def _check_node(node: exp.Expr, dialect: str) -> None:
    kind = type(node)
    if isinstance(node, exp.Anonymous):
        _check_named_function(node, dialect)
    elif isinstance(node, exp.Func) and kind in allowed_functions(dialect):
        pass
    elif kind not in allowed_nodes(dialect):
        if isinstance(node, tuple(_NAMES)):
            raise refuse(f"{_name(node)} is not allowed in a query segment")
        if isinstance(node, exp.Func | exp.Binary) and (called := _called_as(node, dialect)):
            raise refuse(f"the function {called}() is not allowed in a query segment")
        if isinstance(node, exp.Binary):
            raise refuse(f"the operator in {_snippet(node, dialect)} is not allowed in a query segment")
        if isinstance(node, exp.Func):  # a keyword such as current_user
            raise refuse(f"the function {node.sql_name().lower()}() is not allowed in a query segment")
        raise refuse(f"{_name(node)} is not allowed in a query segment")
    elif kind is exp.Var and not isinstance(node.parent, VAR_PARENTS):
        raise refuse(f"the word {node.name} is not allowed here in a query segment")
    elif isinstance(node, exp.Identifier) and not node.quoted and not _PLAIN_NAME.fullmatch(node.name):
        # SQLite reads $name, :name and @name as parameters wherever sqlglot reads a name
        raise refuse(f"the name {node.name} is not allowed in a query segment: parameters are not, "
                     "and a column so named is written in double quotes")
    elif isinstance(node, exp.DataType):
        _check_type(node, dialect)
    elif isinstance(node, exp.Table):
        _check_table(node)
    elif kind is exp.Column and (node.args.get("db") or node.args.get("catalog")):
        raise refuse(f"write the column {node.name} without a schema")


def _snippet(node: exp.Expr, dialect: str) -> str:
    """The node as SQL (the query's own text), shortened."""
    try:
        text = node.sql(dialect=_SQLGLOT_DIALECTS[dialect], unsupported_level=ErrorLevel.IGNORE)
    except SqlglotError:
        text = node.key.upper()
    return text if len(text) <= 60 else text[:57] + "..."


def _called_as(node: exp.Expr, dialect: str) -> str | None:
    """The name the function is called by in the store's SQL (json_agg, div), or None when it is
    written as an operator, a keyword or a cast."""
    call = _CALL.match(_snippet(node, dialect))
    return call.group(1).lower() if call and call.group(1).upper() not in ("CAST", "TRY_CAST") else None


def _check_named_function(node: exp.Expr, dialect: str) -> None:
    name = node.this
    if not isinstance(name, str):  # a quoted name: "age"(...) may not be the function it looks like
        raise refuse(f"the function {node.name}() must be written without quotes")
    if name.lower() not in allowed_names(dialect):
        raise refuse(f"the function {name}() is not allowed in a query segment")


def _check_type(node: exp.DataType, dialect: str) -> None:
    if isinstance(node.parent, exp.DataTypeParam):
        return  # the parameters of numeric(10, 2) and the like
    if node.this not in DATA_TYPES:
        raise refuse(f"the type {_snippet(node, dialect)} is not allowed in a query segment")


def _check_table(table: exp.Table) -> None:
    name_node = table.this
    if not isinstance(name_node, exp.Identifier):
        raise refuse(f"{_name(name_node) if isinstance(name_node, exp.Expr) else 'that'} "
                     "cannot be read as a table in a query segment")
    if table.args.get("db") or table.args.get("catalog"):
        raise refuse(f"write the table {table.name} without a schema")
    name = table.name
    if _is_cte(table, name):
        return
    if name not in DATA_TABLES:
        raise refuse(f"the table {name} may not be read in a query segment; the CRM data tables are "
                     f"{', '.join(sorted(DATA_TABLES))}")


def _is_cte(table: exp.Table, name: str) -> bool:
    """Whether ``name`` at ``table`` refers to a CTE in scope (as the database resolves it).

    In ``WITH a AS (...), b AS (...)`` the body sees every CTE; a CTE's own query sees only the
    earlier ones, and also itself and the later ones under WITH RECURSIVE.
    """
    child: exp.Expr = table
    node: exp.Expr | None = table.parent
    while node is not None:
        with_ = node.args.get("with_") if isinstance(node, exp.Query) else None
        if isinstance(with_, exp.With):
            ctes = list(with_.expressions)
            visible = ctes
            if child is with_:
                inner = next(i for i, cte in enumerate(ctes) if _contains(cte, table))
                visible = ctes if with_.args.get("recursive") else ctes[:inner]
            if any(cte.alias == name for cte in visible):
                return True
        child, node = node, node.parent
    return False


def _contains(ancestor: exp.Expr, node: exp.Expr | None) -> bool:
    while node is not None:
        if node is ancestor:
            return True
        node = node.parent
    return False

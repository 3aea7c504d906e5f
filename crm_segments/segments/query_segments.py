"""Database-query segments: an admin's read-only SELECT that returns profile ids.

Three guards, each enough on its own for writes, all always applied:
1. ``validate_query`` parses the text with sqlglot and refuses anything but exactly one SELECT:
   writes (also inside WITH), SELECT INTO, locking clauses, placeholders, functions that sleep, read
   files, change settings or reach other databases, and tables other than the CRM's own (never users
   or API keys).
2. The query runs on a connection of its own in a READ ONLY transaction with ``SET LOCAL
   statement_timeout`` (PostgreSQL), or on a ``file:...?mode=ro`` connection with a progress-handler
   deadline (SQLite); drivers refuse a second statement.
3. At most ``row_limit`` ids are read; more is an error, never a silently cut segment.

Every path (preview, refresh) reads through ``query_ids``. The separate connection sees committed
data only, which is what a scheduled refresh sees anyway.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import psycopg
import sqlglot
from sqlalchemy import BigInteger, Column, MetaData, Table, delete, exists, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlglot import exp

from crm_segments.models import Profile
from crm_segments.services.errors import FieldError, ValidationFailed

FIELD = "query_sql"
MAX_QUERY_LENGTH = 20_000
DEFAULT_TIMEOUT_MS = 30_000
DEFAULT_ROW_LIMIT = 1_000_000
CHUNK = 10_000

_SQLGLOT_DIALECTS = {"postgresql": "postgres", "sqlite": "sqlite"}
# Statement kinds that are never part of a query segment, wherever they appear in the tree.
_FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = (
    exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Command,
    exp.Copy, exp.Into, exp.Lock, exp.Set, exp.Transaction, exp.Commit, exp.Rollback, exp.Grant,
    exp.Pragma, exp.Use, exp.Attach, exp.Detach, exp.TruncateTable, exp.Analyze, exp.LoadData,
    exp.Placeholder, exp.Parameter,
)
# Functions that wait, touch files or other servers, change settings or sequences, or run SQL text.
_FORBIDDEN_FUNCTION_PREFIXES = ("pg_", "lo_", "dblink", "file_", "xmlexists")
_FORBIDDEN_FUNCTIONS = frozenset({
    "sleep", "benchmark", "set_config", "current_setting", "nextval", "setval", "currval", "lastval",
    "query_to_xml", "query_to_xml_and_xmlschema", "query_to_xmlschema", "table_to_xml",
    "table_to_xmlschema", "table_to_xml_and_xmlschema", "cursor_to_xml", "cursor_to_xmlschema",
    "schema_to_xml", "database_to_xml", "xpath", "load_extension", "readfile", "writefile", "edit",
    "fts3_tokenizer", "randomblob", "zeroblob", "txid_current", "set_byte", "ts_stat",
})
# The CRM's own tables, except those holding credentials.
TABLE_PREFIX = "crm_"
_FORBIDDEN_TABLES = frozenset({"crm_users", "crm_api_keys", "crm_scheduler_jobs", "crm_scheduler_lease"})
_ALLOWED_SCHEMAS = frozenset({"", "public", "main"})

STAGE = Table("crm_tmp_query_ids", MetaData(), Column("profile_id", BigInteger, primary_key=True),
              prefixes=["TEMPORARY"])


class QueryFailed(Exception):
    """The query was valid but running it failed: timeout, too many rows, not ids, SQL error."""


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed([FieldError(FIELD, message)])


def validate_query(sql: str, *, dialect: str) -> str:
    """The query text if it is one read-only SELECT of one column; else ValidationFailed saying why."""
    if not isinstance(sql, str) or not sql.strip():
        raise _refuse("enter a SELECT that returns profile ids")
    if len(sql) > MAX_QUERY_LENGTH:
        raise _refuse(f"the query is longer than {MAX_QUERY_LENGTH} characters")
    if "\x00" in sql:
        raise _refuse("the query contains a NUL character")
    try:
        parsed = [e for e in sqlglot.parse(sql, read=_SQLGLOT_DIALECTS[dialect]) if e is not None]
    except sqlglot.errors.SqlglotError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "cannot parse"
        raise _refuse(f"cannot read the query: {first}") from None
    statements = [e for e in parsed if not isinstance(e, exp.Semicolon)]
    if len(statements) != 1:
        raise _refuse(f"exactly one SELECT statement is allowed, found {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, exp.Select):
        raise _refuse(f"only a SELECT is allowed, not {tree.key.upper()}")
    for node in tree.walk():
        _check_node(node)
    _check_tables(tree)
    if len(tree.selects) != 1 or tree.selects[0].is_star:
        raise _refuse("the SELECT must return exactly one column: the profile id")
    return sql.strip().rstrip(";").strip()


def _check_node(node: Any) -> None:
    if isinstance(node, _FORBIDDEN_NODES):
        what = "SELECT INTO" if isinstance(node, exp.Into) else (
            "a locking clause (FOR UPDATE / FOR SHARE)" if isinstance(node, exp.Lock) else
            "parameters" if isinstance(node, exp.Placeholder | exp.Parameter) else node.key.upper())
        raise _refuse(f"{what} is not allowed in a query segment")
    if isinstance(node, exp.Func):
        name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
        if name in _FORBIDDEN_FUNCTIONS or name.startswith(_FORBIDDEN_FUNCTION_PREFIXES):
            raise _refuse(f"the function {name}() is not allowed in a query segment")


def _check_tables(tree: exp.Expression) -> None:
    ctes = {cte.alias.lower() for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        if not name:
            continue  # a table function such as generate_series: its function was checked
        if table.db.lower() not in _ALLOWED_SCHEMAS or table.catalog:
            raise _refuse(f"only the CRM's own tables may be read, not {table.sql()}")
        if not table.db and name in ctes:
            continue
        if not name.startswith(TABLE_PREFIX) or name in _FORBIDDEN_TABLES:
            raise _refuse(f"the table {name} may not be read; use the CRM's tables (crm_profiles, ...)")


def _wrapped(sql: str, limit: int) -> str:
    # The newlines keep a trailing "-- comment" from swallowing the closing parenthesis.
    return f"SELECT DISTINCT * FROM (\n{sql}\n) AS crm_query LIMIT {int(limit)}"


@contextmanager
def _readonly_rows(engine: Engine, sql: str, *, timeout_ms: int) -> Iterator[Iterator[tuple[Any, ...]]]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
            # A server-side cursor straight on the driver: without parameters psycopg reads no
            # placeholders, so a "%" in the query is the modulo operator it was written as.
            driver: Any = conn.connection.driver_connection
            try:
                with driver.cursor(name="crm_query_segment") as cursor:
                    cursor.itersize = CHUNK
                    cursor.execute(sql)
                    yield (tuple(row) for row in cursor)
            except psycopg.Error as exc:
                raise QueryFailed(_db_message(exc)) from None
        return
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise QueryFailed("query segments need a SQLite database file")
    deadline = time.monotonic() + timeout_ms / 1000
    readonly = sqlite3.connect(f"file:{quote(database)}?mode=ro", uri=True, timeout=timeout_ms / 1000)
    readonly.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
    try:
        yield _sqlite_rows(readonly.execute(sql))
    except sqlite3.Error as exc:
        message = "the query took longer than the time limit" if "interrupt" in str(exc) else str(exc)
        raise QueryFailed(message) from None
    finally:
        readonly.close()


def _sqlite_rows(cursor: sqlite3.Cursor) -> Iterator[tuple[Any, ...]]:
    while rows := cursor.fetchmany(CHUNK):
        yield from rows


# SQLSTATE classes whose message is about the query's text (syntax, names, permissions), never about
# the rows it read; any other error's text may quote a value, so only its class and code are shown.
_TEXT_ONLY_CLASSES = ("42",)


def _db_message(exc: psycopg.Error) -> str:
    code = exc.sqlstate or ""
    if code == "57014":  # query_canceled: the statement timeout
        return "the query took longer than the time limit"
    if code.startswith(_TEXT_ONLY_CLASSES):
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"the database refused the query ({type(exc).__name__}, SQLSTATE {code or 'unknown'})"


def _engine(session: Session) -> Engine:
    return session.get_bind().engine


def query_ids(session: Session, sql: str, *, timeout_ms: int = DEFAULT_TIMEOUT_MS,
              row_limit: int = DEFAULT_ROW_LIMIT) -> Iterator[list[int]]:
    """Validate and run ``sql`` read-only; yield its profile ids in chunks (at most ``row_limit``)."""
    engine = _engine(session)
    checked = validate_query(sql, dialect=engine.dialect.name)
    seen = 0
    with _readonly_rows(engine, _wrapped(checked, row_limit + 1), timeout_ms=timeout_ms) as rows:
        chunk: list[int] = []
        for row in rows:
            value = row[0]
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                # The type only: the value itself is data the query read.
                kind = type(value).__name__
                raise QueryFailed(f"the query must return profile ids (whole numbers), got a {kind}")
            seen += 1
            if seen > row_limit:
                raise QueryFailed(f"the query returned more than {row_limit:,} rows")
            chunk.append(value)
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def stage_query(session: Session, sql: str, **limits: Any) -> Select[Any]:
    """Copy the query's ids into a temporary table of this transaction; a select of those that exist.

    Ids pass through in chunks, so memory stays flat whatever the row count.
    """
    session.execute(text("CREATE TEMPORARY TABLE IF NOT EXISTS crm_tmp_query_ids "
                         "(profile_id BIGINT PRIMARY KEY)"))
    session.execute(delete(STAGE))
    for chunk in query_ids(session, sql, **limits):
        session.execute(insert(STAGE), [{"profile_id": i} for i in chunk])  # distinct already
    staged = STAGE.c.profile_id
    return select(staged).where(exists().where(Profile.id == staged))

"""Database-query segments: an admin's read-only SELECT over the CRM data that returns profile ids.

Guards, each always applied:
1. The check (query_check.py): one SELECT built only from the allowlist in query_allowlist.py (CRM
   data tables, listed functions, operators and types); what runs is the SQL generated from the
   checked tree, checked again.
2. At the database: on PostgreSQL the query runs as the role ``crm_segments_query`` (SELECT on the
   CRM data tables only), in a READ ONLY transaction with ``SET LOCAL statement_timeout``
   (CRM_SEGMENTS_QUERY_SEGMENT_TIMEOUT); on SQLite on a ``mode=ro`` connection whose authorizer allows
   reading only the CRM data tables and calling only the listed functions, with a progress-handler
   deadline.
3. At most ``row_limit`` ids are read; more is an error, never a silently cut segment.
4. A failure says what kind of error and where (query_errors.py), never the database's own text,
   which can quote the values the query read.

Every path (preview, refresh) reads through ``query_ids``. The separate connection sees committed
data only, which is what a scheduled refresh sees anyway.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from sqlalchemy import BigInteger, Column, MetaData, Table, delete, exists, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from crm_segments.config import DEFAULT_QUERY_SEGMENT_TIMEOUT
from crm_segments.models import Profile

from .query_allowlist import DATA_TABLES, QUERY_ROLE, SQLITE_CALLS
from .query_check import FIELD, MAX_QUERY_LENGTH, checked_sql, validate_query
from .query_errors import POSTGRES_ERRORS, QueryFailed, postgres_message, role_message, sqlite_message

__all__ = ["DEFAULT_ROW_LIMIT", "FIELD", "MAX_QUERY_LENGTH", "QueryFailed", "checked_sql", "configure",
           "configured_timeout_ms", "query_ids", "stage_query", "validate_query"]

DEFAULT_ROW_LIMIT = 1_000_000
CHUNK = 10_000
CURSOR = "crm_query_segment"

_timeout = {"seconds": DEFAULT_QUERY_SEGMENT_TIMEOUT}


def configure(timeout_seconds: float) -> None:
    """The statement timeout of every query segment run in this process (``init_app`` sets it from
    CRM_SEGMENTS_QUERY_SEGMENT_TIMEOUT)."""
    _timeout["seconds"] = timeout_seconds


def configured_timeout_ms() -> int:
    return int(_timeout["seconds"] * 1000)


STAGE = Table("crm_tmp_query_ids", MetaData(), Column("profile_id", BigInteger, primary_key=True),
              prefixes=["TEMPORARY"])


def _wrapped(sql: str, limit: int) -> tuple[str, int]:
    """The statement that reads at most ``limit`` distinct ids, and where ``sql`` starts in it."""
    prefix = "SELECT DISTINCT * FROM ("
    return f"{prefix}{sql}) AS crm_query LIMIT {int(limit)}", len(prefix)


@contextmanager
def _readonly_rows(engine: Engine, sql: str, *, timeout_ms: int,
                   limit: int) -> Iterator[Iterator[tuple[Any, ...]]]:
    statement, offset = _wrapped(sql, limit)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn, conn.begin():
            rows = _postgres_rows(conn.connection.driver_connection, statement,
                                  sql=sql, offset=offset, timeout_ms=timeout_ms)
            try:
                yield rows
            finally:
                rows.close()
        return
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise QueryFailed("query segments need a SQLite database file")
    deadline = time.monotonic() + timeout_ms / 1000
    readonly = sqlite3.connect(f"file:{quote(database)}?mode=ro", uri=True, timeout=timeout_ms / 1000)
    try:
        readonly.set_authorizer(_sqlite_authorizer)
        readonly.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
        rows = _sqlite_rows(readonly, statement, sql=sql)
        try:
            yield rows
        finally:
            rows.close()
    finally:
        readonly.close()


def _postgres_rows(driver: Any, statement: str, *, sql: str, offset: int,
                   timeout_ms: int) -> Generator[tuple[Any, ...]]:
    # Statements straight on the driver: without parameters psycopg reads no placeholders, so a "%"
    # in the query is the modulo operator it was written as.
    with driver.cursor() as cursor:
        cursor.execute("SET TRANSACTION READ ONLY")
        cursor.execute(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
        cursor.execute("SET LOCAL standard_conforming_strings = on")  # a backslash is never an escape
        try:
            cursor.execute(f'SET LOCAL ROLE "{QUERY_ROLE}"')
        except POSTGRES_ERRORS as exc:
            raise QueryFailed(role_message(exc, QUERY_ROLE)) from None  # type: ignore[arg-type]
        declare = f"DECLARE {CURSOR} NO SCROLL CURSOR FOR "
        try:
            cursor.execute(declare + statement)
            while rows := cursor.execute(f"FETCH FORWARD {CHUNK} FROM {CURSOR}").fetchall():
                yield from (tuple(row) for row in rows)
        except POSTGRES_ERRORS as exc:
            raise QueryFailed(postgres_message(exc, query=sql,  # type: ignore[arg-type]
                                               offset=len(declare) + offset)) from None


_SQLITE_READ, _SQLITE_SELECT, _SQLITE_FUNCTION, _SQLITE_RECURSIVE = 20, 21, 31, 33


def _sqlite_authorizer(action: int, arg1: str | None, arg2: str | None, _db: str | None,
                       _source: str | None) -> int:
    """SQLite's own guard: read the CRM data tables, call the listed functions, nothing else."""
    if action in (_SQLITE_SELECT, _SQLITE_RECURSIVE):
        return sqlite3.SQLITE_OK
    if action == _SQLITE_READ and (arg1 or "").lower() in DATA_TABLES:
        return sqlite3.SQLITE_OK
    if action == _SQLITE_FUNCTION and (arg2 or "").lower() in SQLITE_CALLS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _sqlite_rows(readonly: sqlite3.Connection, statement: str, *, sql: str) -> Generator[tuple[Any, ...]]:
    try:
        cursor = readonly.execute(statement)
        while rows := cursor.fetchmany(CHUNK):
            yield from rows
    except sqlite3.Error as exc:
        raise QueryFailed(sqlite_message(exc, query=sql)) from None


def _engine(session: Session) -> Engine:
    return session.get_bind().engine


def query_ids(session: Session, sql: str, *, timeout_ms: int | None = None,
              row_limit: int = DEFAULT_ROW_LIMIT) -> Iterator[list[int]]:
    """Validate and run ``sql`` read-only; yield its profile ids in chunks (at most ``row_limit``).

    ``timeout_ms`` defaults to the configured statement timeout.
    """
    engine = _engine(session)
    checked = checked_sql(sql, dialect=engine.dialect.name)
    limit_ms = configured_timeout_ms() if timeout_ms is None else timeout_ms
    seen = 0
    with _readonly_rows(engine, checked, timeout_ms=limit_ms, limit=row_limit + 1) as rows:
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

"""Engine, session factory, declarative Base and the column types every model shares."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, Numeric, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, sessionmaker
from sqlalchemy.types import TypeDecorator

from crm_segments.kernel.sqlite_writers import WriteGate, gate_for, hold, let_go

# Stable constraint names so migrations can alter and drop them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Every table of the plugin starts with this, so it can live beside a host app's tables.
TABLE_PREFIX = "crm_"


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware timestamp stored in UTC on every backend.

    SQLite has no timezone type, so values are stored as naive UTC there and made aware on load.
    Naive datetimes are refused: they are the usual source of off-by-hours bugs.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: timestamps must be timezone-aware")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def Money() -> Numeric[Decimal]:  # noqa: N802 - reads like a type in column definitions
    return Numeric(14, 2, asdecimal=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


SQLITE_BUSY_TIMEOUT = 30  # seconds a writer waits for another process's write lock


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; on SQLite turn on foreign keys (off by default) and WAL for concurrent readers."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT})
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        gate = write_gate(engine)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", partial(_sqlite_on_begin, gate))
        if gate is not None:
            for name in ("commit", "rollback"):
                event.listen(engine, name, _sqlite_on_end)
            event.listen(engine, "checkin", _sqlite_on_checkin)
    return engine


def write_gate(engine: Engine) -> WriteGate | None:
    """The gate the writers of this process queue at for a SQLite file (None for other stores and
    in-memory databases); it also keeps how long they waited."""
    database = engine.url.database or ""
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return gate_for(str(Path(database).resolve()))


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy issue BEGIN itself so transactions and SAVEPOINTs behave as on PostgreSQL.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# Execution option naming how a SQLite transaction begins: "IMMEDIATE" (the default) or "DEFERRED".
SQLITE_BEGIN = "crm_sqlite_begin"
READ_ONLY = {SQLITE_BEGIN: "DEFERRED"}


def _sqlite_on_begin(gate: WriteGate | None, connection: Any) -> None:
    # IMMEDIATE takes the write lock up front: a deferred transaction that read first and then
    # writes after another connection committed fails at once with "database is locked" (the
    # busy timeout does not apply to it), so every writer queues on the busy timeout instead.
    # Readers (page views, exports) ask for DEFERRED: in WAL mode they never take or wait for the
    # write lock, so a long read cannot hold up a writer and a writer cannot hold up a page.
    # Writers of this process queue for the lock in Python first (sqlite_writers.py).
    mode = connection.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")
    if mode not in ("IMMEDIATE", "DEFERRED"):
        raise ValueError(f"unknown SQLite begin mode {mode!r}")
    if mode == "IMMEDIATE" and gate is not None:
        gate.acquire(timeout=SQLITE_BUSY_TIMEOUT)
        hold(connection.info, gate)
    try:
        connection.exec_driver_sql(f"BEGIN {mode}")
    except BaseException:
        let_go(connection.info)
        raise


def _sqlite_on_end(connection: Any) -> None:
    let_go(connection.info)


def _sqlite_on_checkin(_dbapi_connection: Any, record: Any) -> None:
    let_go(record.info)  # a connection returned without its transaction ending


def make_session_factory(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(bind=engine, expire_on_commit=False)

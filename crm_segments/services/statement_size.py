"""How many rows one multi-row statement may carry: every backend caps the bound parameters of a
statement (PostgreSQL at 65,535; SQLite at 32,766 by default since 3.32, 999 before, and a build
or connection may set its own), so bulk writes split their rows to stay under it."""

from __future__ import annotations

import sqlite3

from sqlalchemy.orm import Session

POSTGRESQL_LIMIT = 65_535
SQLITE_OLD_DEFAULT = 999
BUDGET = 30_000  # parameters per statement aimed at: more only adds to memory, not to speed


def bind_limit(session: Session) -> int:
    """The most bound parameters one statement of ``session``'s connection may have."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return POSTGRESQL_LIMIT
    raw = connection.connection.driver_connection
    if isinstance(raw, sqlite3.Connection):
        return int(raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    return SQLITE_OLD_DEFAULT


def rows_per_statement(session: Session, columns: int) -> int:
    """Rows of ``columns`` values each that fit in one statement, with room for a few more."""
    room = min(BUDGET, bind_limit(session) - 10)
    return max(1, room // max(1, columns))

"""The changed profiles of a bulk write in a temporary table of the session's connection.

Re-evaluating 100,000 changed profiles with their ids inline (IN lists of 500, or one array) costs
a statement per chunk and rule, and an array's size is a guess to the planner; over the whole base
it reads every profile for a change to a few percent of them. Staged in a table with a primary key
and statistics, the ids restrict every rule, diff and enrollment by one semi-join whose size the
planner knows, whatever the number of ids.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Column, Integer, MetaData, Select, Table, delete, insert, select, text
from sqlalchemy.orm import Session


def id_table(name: str, id_type: type[Integer] = Integer) -> Table:
    """A temporary table of profile ids, one per connection (created by ``emptied``)."""
    return Table(name, MetaData(), Column("profile_id", id_type, primary_key=True, autoincrement=False),
                 prefixes=["TEMPORARY"])


def emptied(session: Session, table: Table) -> None:
    """Create the connection's ``table`` if it is not there yet (PostgreSQL: emptied at each commit)
    and empty it, so a failed earlier use leaves nothing behind."""
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        id_type = table.c.profile_id.type.compile(dialect=dialect)
        session.execute(text(f"CREATE TEMPORARY TABLE IF NOT EXISTS {table.name} "
                             f"(profile_id {id_type} PRIMARY KEY) ON COMMIT DELETE ROWS"))
        session.execute(text(f"TRUNCATE {table.name}"))
    else:  # INTEGER PRIMARY KEY: SQLite's rowid
        session.execute(text(f"CREATE TEMPORARY TABLE IF NOT EXISTS {table.name} "
                             "(profile_id INTEGER PRIMARY KEY)"))
        session.execute(delete(table))


NAME = "crm_tmp_changed_profiles"
TABLE = id_table(NAME)
COPY_ROWS = 10_000  # ids per COPY write


@contextmanager
def staged_ids(session: Session, ids: Collection[int]) -> Iterator[Select[Any]]:
    """``SELECT profile_id`` of a temporary table holding ``ids``, for the caller's transaction.

    The table is emptied before it is filled, and emptied again afterwards, so a nested bulk write
    sees only its own ids.
    """
    emptied(session, TABLE)
    if session.get_bind().dialect.name == "postgresql":
        _copy(session, sorted(ids))
        session.execute(text(f"ANALYZE {NAME}"))  # temporary tables are never auto-analyzed
    else:
        session.execute(insert(TABLE), [{"profile_id": profile_id} for profile_id in sorted(ids)])
    yield select(TABLE.c.profile_id)
    session.execute(delete(TABLE))


def _copy(session: Session, ids: list[int]) -> None:
    """COPY the ids in text form on the session's own connection (inside its savepoint)."""
    driver: Any = session.connection().connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(f"COPY {NAME} (profile_id) FROM STDIN") as copy:
        for start in range(0, len(ids), COPY_ROWS):
            copy.write("".join(f"{profile_id}\n" for profile_id in ids[start:start + COPY_ROWS]))

"""One UPDATE statement for many rows, each by its id with values of its own.

PostgreSQL joins a ``VALUES`` list (``UPDATE ... FROM (VALUES ...) AS v``): one statement, one round
trip, whatever the number of rows. Other databases (SQLite) get the same statement as an executemany.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, column, update, values
from sqlalchemy.orm import Session

SetClause = Callable[[Mapping[str, ColumnElement[Any]]], dict[str, Any]]


def update_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]], *, set_: SetClause,
                where: Sequence[ColumnElement[bool]] = ()) -> None:
    """Update ``rows`` (dicts with ``id`` and the same other keys) of ``table``.

    ``set_`` gets each row's values as SQL expressions, by key, and returns the SET clause; e.g.
    ``lambda row: {"status": "sent", "provider_message_id": row["provider_message_id"]}``."""
    if not rows:
        return
    keys = [key for key in rows[0] if key != "id"]
    if session.get_bind().dialect.name == "postgresql":
        listed = values(*(column(key, table.c[key].type) for key in ("id", *keys)), name="v").data(
            [tuple(row[key] for key in ("id", *keys)) for row in rows])
        session.execute(update(table).where(table.c.id == listed.c.id, *where)
                        .values(set_({key: listed.c[key] for key in keys})))
        return
    own = {key: bindparam(f"row_{key}", type_=table.c[key].type) for key in keys}
    session.execute(update(table).where(table.c.id == bindparam("row_id"), *where).values(set_(own)),
                    [{f"row_{key}": value for key, value in row.items()} for row in rows])

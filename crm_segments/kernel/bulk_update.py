"""One UPDATE statement for many rows, each by its id with values of its own; and ``id IN`` lists.

PostgreSQL joins the rows as arrays, one per column (``UPDATE ... FROM unnest(:id, :x...) AS v``): one
statement, one round trip, whatever the number of rows, and the same SQL text every time, so it is
compiled once and cached (a ``VALUES`` list is a new statement for every number of rows and was
compiled again for every group, costing more CPU than the update itself). Other databases (SQLite) get
the same statement as an executemany.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, Update, any_, bindparam, cast, column, func, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute, Session

from crm_segments.kernel.id_arrays import id_array

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
        session.execute(_unnest_update(table, keys, rows, set_, where))
        return
    own, params = _own_values(table, keys, rows)
    session.execute(update(table).where(table.c.id == bindparam("row_id"), *where).values(set_(own)), params)


def _unnest_update(table: Table, keys: Sequence[str], rows: Sequence[Mapping[str, Any]], set_: SetClause,
                   where: Sequence[ColumnElement[bool]]) -> Update:
    names = ("id", *keys)
    arrays = [cast(bindparam(f"rows_{key}", [row[key] for row in rows], type_=ARRAY(table.c[key].type)),
                   ARRAY(table.c[key].type)) for key in names]
    listed = (func.unnest(*arrays).table_valued(*(column(key, table.c[key].type) for key in names))
              .render_derived(name="v"))
    # The ids again as ``= ANY``: the planner then reads the rows by primary key even where the
    # table's statistics are stale (a burst of new rows), instead of joining a scan of all of it.
    return (update(table).where(table.c.id == listed.c.id, table.c.id == any_(arrays[0]), *where)
            .values(set_({key: listed.c[key] for key in keys})))


def update_rows_returning(session: Session, table: Table, rows: Sequence[Mapping[str, Any]], *,
                          set_: SetClause, where: Sequence[ColumnElement[bool]]) -> set[int]:
    """As ``update_rows``, for rows that may no longer match ``where``: returns the ids updated.

    PostgreSQL: the same one statement, with ``RETURNING``. SQLite cannot return rows from an
    executemany, so each row is its own statement there."""
    if not rows:
        return set()
    keys = [key for key in rows[0] if key != "id"]
    if session.get_bind().dialect.name == "postgresql":
        return set(session.scalars(_unnest_update(table, keys, rows, set_, where).returning(table.c.id)))
    own, params = _own_values(table, keys, rows)
    statement = (update(table).where(table.c.id == bindparam("row_id"), *where).values(set_(own))
                 .returning(table.c.id))
    return {id_ for row in params for id_ in session.scalars(statement, row)}


def _own_values(table: Table, keys: Sequence[str],
                rows: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Each key as a bind parameter of its own, and the rows as parameter sets for them."""
    own = {key: bindparam(f"row_{key}", type_=table.c[key].type) for key in keys}
    return own, [{f"row_{key}": value for key, value in row.items()} for row in rows]


def id_in(session: Session, id_column: ColumnElement[int] | QueryableAttribute[int],
          ids: Collection[int]) -> ColumnElement[bool]:
    """``id_column IN ids``; on PostgreSQL as ``= ANY(:ids)`` with one array parameter (id_arrays.py),
    so the statement's SQL is the same for any number of ids (no placeholder per id to render)."""
    if session.get_bind().dialect.name == "postgresql":
        return id_column == any_(id_array(session, "ids", ids))
    return id_column.in_(list(ids))

"""Insert many new rows of one table: COPY on PostgreSQL, executemany elsewhere.

An import writes up to hundreds of thousands of rows. executemany of a one-row INSERT costs the
server a Bind/Execute round of the extended protocol per row (≈ 90 µs a profile at 355,000 rows,
against a few µs by COPY), so on PostgreSQL the rows are sent with ``COPY ... FROM STDIN`` on the
session's own connection, inside its transaction and savepoint.

Both paths write the same values: each value goes through its column type's bind processor as a
Core ``insert()`` would send it (JSON, UTC times, enums); a column some rows give and others leave
out is NULL where left out, unless it has a default: a Python-side default is evaluated per row
that leaves it out (as executemany does), a server default applies to those rows.

With ``ids=True`` on PostgreSQL the new rows' ids are taken from the id column's sequence first and
written with the rows, so the caller learns them without looking the rows up again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Column, Table, insert, text
from sqlalchemy.orm import Session


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]], *,
                ids: bool = False) -> list[int]:
    """Insert ``rows`` (dicts of column values, not all with the same keys); with ``ids`` return
    the new ids in row order on PostgreSQL, an empty list elsewhere (the caller looks them up)."""
    if not rows:
        return []
    if not _copyable(session, table):
        for part in _same_keys(_uniform(table, rows)):
            # executemany of one single-row INSERT: the driver prepares it once and streams the rows.
            # (A multi-row VALUES list costs its parsing per row and a bound parameter per value.)
            session.execute(insert(table), part)
        return []
    new_ids: list[int] = []
    if ids:
        # The sequence is named once per statement: pg_get_serial_sequence reads the catalogs, and
        # as an argument of nextval it ran once per id (70 ms of a 5,000-row chunk's 80 ms).
        new_ids = list(session.scalars(
            text("WITH sequence AS MATERIALIZED (SELECT CAST(pg_get_serial_sequence(:table, 'id') "
                 "AS regclass) AS id) SELECT nextval(sequence.id) FROM sequence, generate_series(1, :n)"),
            {"table": table.name, "n": len(rows)}))
        rows = [{**row, "id": row_id} for row, row_id in zip(rows, new_ids, strict=True)]
    keys: set[str] = set()
    for row in rows:
        keys.update(row)
    # Rows that leave out a column with a server default (and none in Python) are sent without it.
    served = [column.key for column in table.columns
              if column.key in keys and column.server_default is not None and column.default is None]
    groups: dict[tuple[bool, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(key in row for key in served), []).append(row)
    for present, part in groups.items():
        left_out = {key for key, given in zip(served, present, strict=True) if not given}
        _copy(session, table, part, [column for column in table.columns
                                     if (column.key in keys or column.default is not None)
                                     and column.key not in left_out])
    return new_ids


def _copyable(session: Session, table: Table) -> bool:
    """PostgreSQL, and every Python-side default is a plain value or a function of nothing."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    return all(column.default is None or column.default.is_scalar or column.default.is_callable
               for column in table.columns)


def _copy(session: Session, table: Table, rows: Sequence[dict[str, Any]], columns: list[Column[Any]]) -> None:
    connection = session.connection()
    dialect = connection.dialect
    # What a row leaves out: NULL, or the column's plain default; a callable default is called per row.
    defaults: dict[str, Any] = {column.key: column.default for column in columns
                                if column.default is not None}
    template = dict.fromkeys([column.key for column in columns])
    template.update({key: default.arg for key, default in defaults.items() if default.is_scalar})
    # A callable default is stored wrapped to take the execution context; the models' defaults
    # (utcnow and the like) take none, and _copyable admits no other kind.
    called = [(key, default.arg) for key, default in defaults.items() if default.is_callable]
    pick = itemgetter(*[column.key for column in columns])
    processors = [(position, process) for position, column in enumerate(columns)
                  if (process := column.type._cached_bind_processor(dialect)) is not None]
    # Most cells of a row are empty: skip the processors that send None as None (all but JSON's).
    keeps_none = {position for position, process in processors if process(None) is None}
    quote = dialect.identifier_preparer.quote
    statement = (f"COPY {quote(table.name)} ({', '.join(quote(column.name) for column in columns)}) "
                 "FROM STDIN")
    driver: Any = connection.connection.driver_connection
    single = len(columns) == 1
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            values = {**template, **row}
            for key, default in called:
                if key not in row:
                    values[key] = default(None)
            line = [pick(values)] if single else list(pick(values))
            for position, process in processors:
                value = line[position]
                if value is not None or position not in keeps_none:
                    line[position] = process(value)
            copy.write_row(line)


def _uniform(table: Table, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give every row the columns that have no default (as NULL, as if left out), so rows share
    their keys and insert in one batch."""
    keys = {key for row in rows for key in row}
    plain = [column.key for column in table.columns
             if column.key in keys and column.default is None and column.server_default is None]
    return [{**dict.fromkeys(plain), **row} for row in rows]


def _same_keys(rows: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """``rows`` grouped by their keys: each group is one executemany."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    yield from groups.values()

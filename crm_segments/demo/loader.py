"""Bulk writers for generated rows: COPY on PostgreSQL, executemany on SQLite.

Both write through the caller's ``Connection`` and inside its transaction, so a failed load leaves
nothing behind and tests can roll a load back.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import JSON, Insert, bindparam, insert, text
from sqlalchemy.engine import Connection

from crm_segments.db import Base
from crm_segments.demo.tables import JSON_COLUMNS, RECORD_COLUMNS, RECORD_TABLES

Row = tuple[Any, ...]


class RowWriter(Protocol):
    def write(self, table: str, rows: Sequence[Row]) -> None: ...

    def finish(self) -> None: ...


def copy_statement(table: str) -> str:
    return f"COPY {table} ({', '.join(RECORD_COLUMNS[table])}) FROM STDIN"


def copy_ready(table: str, rows: Iterable[Row]) -> Iterable[Row]:
    """Rows with JSON values serialised: COPY would otherwise send a Python list as an array."""
    columns = RECORD_COLUMNS[table]
    positions = [columns.index(name) for name in JSON_COLUMNS.get(table, ())]
    if not positions:
        return rows
    return (_with_json_text(row, positions) for row in rows)


def _with_json_text(row: Row, positions: list[int]) -> Row:
    values = list(row)
    for position in positions:
        if values[position] is not None:
            values[position] = json.dumps(values[position])
    return tuple(values)


def format_copy_rows(cursor: Any, table: str, rows: Sequence[Row]) -> bytes:
    """COPY text-format data for ``rows``, made by psycopg's own formatter without a round trip.

    ``cursor`` is any psycopg cursor; only its adapters are used.
    """
    from psycopg import Copy
    from psycopg.copy import FileWriter

    buffer = io.BytesIO()
    with Copy(cursor, binary=False, writer=FileWriter(buffer)) as copy:
        for row in copy_ready(table, rows):
            copy.write_row(row)
    return buffer.getvalue()


class PostgresCopyWriter:
    """``COPY table (columns) FROM STDIN`` through psycopg 3, one COPY per table and batch."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.driver_connection: Any = connection.connection.driver_connection

    def write(self, table: str, rows: Sequence[Row]) -> None:
        if not rows:
            return
        with self.driver_connection.cursor() as cursor, cursor.copy(copy_statement(table)) as copy:
            for row in copy_ready(table, rows):
                copy.write_row(row)

    def write_formatted(self, table: str, data: bytes) -> None:
        """Send data that ``format_copy_rows`` made (possibly in another process)."""
        if not data:
            return
        with self.driver_connection.cursor() as cursor, cursor.copy(copy_statement(table)) as copy:
            copy.write(data)

    def finish(self) -> None:
        reset_sequences(self.connection)


def reset_sequences(connection: Connection) -> None:
    """Move each PostgreSQL id sequence past the explicitly assigned ids, so later inserts fit."""
    for table in RECORD_TABLES:
        connection.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
        ))


class ExecuteManyWriter:
    """Core ``insert()`` with a list of parameter sets: one executemany per table and batch.

    Going through the table's column types keeps values stored exactly as the ORM stores them
    (UTC timestamps, JSON, decimals).
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def write(self, table: str, rows: Sequence[Row]) -> None:
        if not rows:
            return
        columns = RECORD_COLUMNS[table]
        self.connection.execute(_insert(table), [dict(zip(columns, row, strict=True)) for row in rows])

    def finish(self) -> None:
        pass


def _insert(table: str) -> Insert:
    """An INSERT for ``table`` that stores a missing JSON document as SQL NULL, as COPY does.

    (The JSON type would otherwise store Python ``None`` as the JSON text ``null``.)
    """
    statement = insert(Base.metadata.tables[table])
    json_columns = JSON_COLUMNS.get(table, ())
    if json_columns:
        statement = statement.values({
            name: bindparam(name, type_=JSON(none_as_null=True)) for name in json_columns
        })
    return statement


def writer_for(connection: Connection) -> RowWriter:
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        return PostgresCopyWriter(connection)
    return ExecuteManyWriter(connection)

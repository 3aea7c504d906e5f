"""Portable building blocks for set-based statements on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Executable, FromClause, Integer, Subquery, Text, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name


def insert_ignore(session: Session | str, table: FromClause) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING``: a row that already exists is skipped, not an error.

    ``session`` may also be a dialect name, for statements built ahead of their session.
    """
    name = session if isinstance(session, str) else dialect_name(session)
    module = postgresql if name == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()


def id_values(session: Session, ids: Sequence[int]) -> Subquery:
    """A one-column table ``id`` of the given ids, bound as ONE parameter whatever their number.

    Long id lists (a CSV of 100,000 rows) would otherwise need one bound parameter per id, beyond
    what SQLite and PostgreSQL accept in one statement.
    """
    if dialect_name(session) == "postgresql":
        clause = text("SELECT unnest(CAST(:ids AS bigint[])) AS id").bindparams(ids=list(ids))
    else:
        clause = text("SELECT CAST(value AS INTEGER) AS id FROM json_each(:ids)").bindparams(
            ids=json.dumps(list(ids)))
    return clause.columns(id=Integer()).subquery("id_values")


def line_values(session: Session, rows: Sequence[tuple[int, str]]) -> Subquery:
    """A two-column table ``(line, value)`` of numbered text values, bound as one parameter."""
    if dialect_name(session) == "postgresql":
        clause = text(
            "SELECT * FROM unnest(CAST(:lines AS integer[]), CAST(:vals AS text[])) AS v(line, value)"
        ).bindparams(lines=[r[0] for r in rows], vals=[r[1] for r in rows])
    else:
        clause = text(
            "SELECT CAST(json_extract(value, '$[0]') AS INTEGER) AS line,"
            " json_extract(value, '$[1]') AS value FROM json_each(:rows)"
        ).bindparams(rows=json.dumps([list(r) for r in rows]))
    return clause.columns(line=Integer(), value=Text()).subquery("line_values")


def execute_count(session: Session, statement: Executable) -> int:
    """Run an INSERT/UPDATE/DELETE and return how many rows it changed.

    ``preserve_rowcount`` makes the count reliable for INSERT too: otherwise a driver may report -1
    once the cursor is closed (psycopg 3 does).
    """
    result = session.execute(statement, execution_options={"preserve_rowcount": True})
    return int(result.rowcount)  # type: ignore[attr-defined]

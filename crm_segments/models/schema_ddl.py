"""Statements (triggers, functions) that ``create_all`` runs once every table exists, per dialect.

Migrations run the same statements themselves; this makes a schema built from the models (the
tests, ``init-db`` on an empty database) carry them too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import DDL, event

from crm_segments.db import Base


def run_after_create_all(statements_by_dialect: Mapping[str, Sequence[str]]) -> None:
    """Have ``Base.metadata.create_all`` run each dialect's statements after the whole schema: the
    triggers sit on tables of several modules."""
    for dialect, statements in statements_by_dialect.items():
        for statement in statements:
            event.listen(Base.metadata, "after_create",
                         DDL(statement).execute_if(dialect=dialect))  # type: ignore[no-untyped-call]

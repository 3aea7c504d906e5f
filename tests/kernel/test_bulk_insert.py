"""insert_rows writes what a Core insert() of the same rows writes, by COPY on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from crm_segments.kernel.bulk_insert import _same_keys, _uniform, insert_rows
from crm_segments.models import Profile

PROFILES: Table = Profile.__table__  # type: ignore[assignment]
CONSENT_AT = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC)
# Rows with different keys: given and left-out JSON, defaults (lifecycle, consent, times), dates,
# text that COPY must escape.
ROWS: list[dict[str, Any]] = [
    {"external_id": "1", "first_name": "Ann", "interests": ["golf", "sailing"], "email_consent": True,
     "email_consent_at": CONSENT_AT, "email_consent_source": "import"},
    {"external_id": "2", "first_name": "Tab\there", "last_name": "Back\\slash \"quoted\"\nnew line",
     "birth_date": dt.date(1980, 2, 29), "custom_attributes": {"tier": 2, "tags": ["a", None]}},
    {"external_id": "3", "lifecycle_status": "customer", "gender": "female", "annual_revenue": "12.50"},
    {"external_id": "4", "interests": None, "company_size": 12},
    {"external_id": "5"},
]
COMPARED = [column for column in PROFILES.columns if column.key not in {"id", "external_id", "created_at",
                                                                          "updated_at"}]


def _written(session: Session, prefix: str) -> list[tuple[Any, ...]]:
    # JSON null and SQL NULL both read back as None: compare which one was written too.
    nulls = [PROFILES.c[key].is_(None) for key in ("interests", "custom_attributes")]
    rows = session.execute(select(PROFILES.c.external_id, *COMPARED, *nulls)
                           .where(PROFILES.c.external_id.like(f"{prefix}%"))
                           .order_by(PROFILES.c.external_id)).all()
    return [tuple(row)[1:] for row in rows]


def test_the_same_rows_as_a_core_insert(session: Session, backend: str) -> None:
    for part in _same_keys(_uniform(PROFILES, [{**row, "external_id": f"core-{row['external_id']}"}
                                               for row in ROWS])):
        session.execute(insert(PROFILES), part)
    bulk = [{**row, "external_id": f"bulk-{row['external_id']}"} for row in ROWS]
    ids = insert_rows(session, PROFILES, bulk, ids=True)
    assert _written(session, "bulk-") == _written(session, "core-")
    stamped = session.execute(select(PROFILES.c.created_at, PROFILES.c.updated_at)
                              .where(PROFILES.c.external_id.like("bulk-%"))).all()
    assert all(created is not None and updated is not None for created, updated in stamped)
    if backend == "postgresql":  # the ids were taken from the sequence, in row order
        found = dict(session.execute(select(PROFILES.c.external_id, PROFILES.c.id)
                                     .where(PROFILES.c.external_id.like("bulk-%"))).all())
        assert ids == [found[f"bulk-{row['external_id']}"] for row in ROWS]
    else:
        assert ids == []

"""Right of access: everything the product holds about one profile, as one JSON document.

The sections come from the plan (plan.py): every table with rows of the person and an export section
gives its rows with all their columns (bookkeeping columns named in ``hidden`` aside). Tags, segments,
workflows and products appear by id in those rows; ``names`` gives their names.
"""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from crm_segments.db import Base, utcnow
from crm_segments.kernel.errors import NotFound
from crm_segments.models import Product, Profile, Segment, Tag, Workflow

from .plan import PLAN, Person

FORMAT = "crm-segments personal data export 1"
# Ids in the exported rows whose names the export adds (section of ``names`` -> model).
NAMED: dict[str, tuple[str, Any]] = {
    "tag_id": ("tags", Tag), "segment_id": ("segments", Segment), "workflow_id": ("workflows", Workflow),
    "product_id": ("products", Product)}


def json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return value


def _rows(session: Session, table: Table, where: Any, hidden: tuple[str, ...]) -> list[dict[str, Any]]:
    shown = [c for c in table.columns if c.name not in hidden]
    query = select(*shown).where(where).order_by(*table.primary_key.columns)
    return [{k: json_value(v) for k, v in row.items()} for row in session.execute(query).mappings()]


def export_profile(*, session: Session, profile_id: int, now: dt.datetime | None = None) -> dict[str, Any]:
    """The profile's data: ``profile`` (its own columns), ``data`` (a list of rows per section),
    ``inbound_texts`` (texts received from its number) and ``names`` (of the tags, segments, workflows
    and products its rows refer to). NotFound when there is no such profile."""
    profile = session.get(Profile, profile_id)
    if profile is None:
        raise NotFound(f"no profile with id {profile_id}")
    person = Person.of(session, profile)
    data: dict[str, list[dict[str, Any]]] = {}
    for name, table in Base.metadata.tables.items():
        rule = PLAN[name]
        if rule.export is not None and rule.rows is not None:
            data[rule.export] = _rows(session, table, rule.rows(person), rule.hidden)
    own = data.pop("profile")[0]
    inbound = [{"received_at": e["received_at"], "from": person.phone, "text": e["detail"]}
               for e in data.get("message_events", []) if e["event"] == "inbound"]
    return {"format": FORMAT, "exported_at": json_value(now or utcnow()), "profile_id": profile.id,
            "profile": own, "data": data, "inbound_texts": inbound, "names": _names(session, data)}


def _names(session: Session, data: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, str]]:
    wanted: dict[str, set[int]] = {column: set() for column in NAMED}
    for rows in data.values():
        for row in rows:
            for column, ids in wanted.items():
                if isinstance(row.get(column), int):
                    ids.add(row[column])
    names: dict[str, dict[str, str]] = {}
    for column, ids in wanted.items():
        section, model = NAMED[column]
        found = session.execute(select(model.id, model.name).where(model.id.in_(ids))).all() if ids else []
        names[section] = {str(i): str(n) for i, n in found}
    return names

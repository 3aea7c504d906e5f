"""Small readers used by the tagging tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.models import AutoTagRule, Tag, TagEvent
from crm_segments.models.record_types import tagging_model


def tagged_ids(session: Session, tag: Tag, entity_type: str = "profile") -> set[int]:
    model: Any = tagging_model(entity_type)
    return set(session.scalars(select(model.entity_id).where(model.tag_id == tag.id)))


def events(session: Session, **where: Any) -> list[TagEvent]:
    query = select(TagEvent).filter_by(**where).order_by(TagEvent.id)
    return list(session.scalars(query))


def event_count(session: Session, **where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(TagEvent).filter_by(**where)) or 0)


def make_rule(session: Session, tag: Tag, *, entity_type: str = "profile", mode: str = "sticky",
              condition: dict[str, Any] | None = None, name: str | None = None) -> AutoTagRule:
    rule = AutoTagRule(name=name or f"rule for {tag.name}", entity_type=entity_type, tag_id=tag.id,
                       mode=mode, condition=condition or {"field": "lifecycle_status", "op": "eq",
                                                          "value": "customer"})
    session.add(rule)
    session.flush()
    return rule

"""Suppressions: where a person removed a tag by hand, auto-tag rules do not put it back.

A suppression lasts until someone clears it (the entity's tag editor, or the API).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from crm_segments.kernel.sql import execute_count
from crm_segments.models import AutoTagRule, Tag
from crm_segments.records.entities import suppression_model


def rule_for_tag(session: Session, entity_type: str, tag_id: int) -> int | None:
    """An auto-tag rule that applies this tag to this entity type, if any."""
    query = select(AutoTagRule.id).where(AutoTagRule.tag_id == tag_id, AutoTagRule.entity_type == entity_type)
    return session.scalar(query.order_by(AutoTagRule.id).limit(1))


def clear_suppression(*, session: Session, entity_type: str, entity_id: int, tag_id: int) -> bool:
    """Let auto-tag rules tag this entity again; False when there was no suppression."""
    model = suppression_model(entity_type)
    statement = delete(model).where(model.entity_id == entity_id, model.tag_id == tag_id)
    return bool(execute_count(session, statement))


def entity_suppressions(*, session: Session, entity_type: str, entity_id: int) -> Sequence[Tag]:
    """Tags that auto-tag rules are kept from adding to this entity."""
    model = suppression_model(entity_type)
    query = select(Tag).where(exists().where(model.tag_id == Tag.id, model.entity_id == entity_id))
    return list(session.scalars(query.order_by(Tag.name_key)))

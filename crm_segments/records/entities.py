"""The entity types that carry tags, the tables behind each, and one entity's tags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import FieldError, NotFound, ValidationFailed
from crm_segments.models import Tag
from crm_segments.models import record_types as types


def check_entity_type(entity_type: str, *, field: str = "entity_type") -> str:
    allowed = types.tag_entity_types()
    if entity_type not in allowed:
        raise ValidationFailed([FieldError(field, f"must be one of {', '.join(allowed)}")])
    return entity_type


def entity_model(entity_type: str) -> Any:
    return types.entity_model(check_entity_type(entity_type))


def tagging_model(entity_type: str) -> Any:
    return types.tagging_model(check_entity_type(entity_type))


def suppression_model(entity_type: str) -> Any:
    return types.suppression_model(check_entity_type(entity_type))


def owner_profile_id(entity_type: str, entity_id: ColumnElement[int]) -> ColumnElement[int]:
    """The profile an entity belongs to, as a SQL expression over ``entity_id``."""
    if entity_type == "profile":
        return entity_id
    kind = types.record_type(check_entity_type(entity_type))
    return select(kind.column(kind.owner)).where(kind.model.id == entity_id).scalar_subquery()


def entity_profile_id(*, session: Session, entity_type: str, entity_id: int) -> int:
    """The owning profile of one entity; NotFound names the entity when it does not exist."""
    model = entity_model(entity_type)
    column = model.id if entity_type == "profile" else getattr(model, types.record_type(entity_type).owner)
    profile_id = session.scalar(select(column).where(model.id == entity_id))
    if profile_id is None:
        raise NotFound(f"{entity_type}: no {entity_type} with id {entity_id}")
    return int(profile_id)


def entity_tags(*, session: Session, entity_type: str, entity_id: int) -> Sequence[Any]:
    """The taggings of one entity (each with its ``tag``), by tag name."""
    model = tagging_model(entity_type)
    query = select(model).join(Tag, Tag.id == model.tag_id).where(model.entity_id == entity_id)
    return list(session.scalars(query.order_by(Tag.name_key)))

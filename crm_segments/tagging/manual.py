"""Adding and removing a tag on one profile, quote, job or opportunity, by a person (or the API).

Removing a tag by hand that an auto-tag rule adds (or could add) also records a suppression: the
person wins, and no rule puts that tag back on that entity until someone clears the suppression.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crm_segments.db import utcnow
from crm_segments.kernel.errors import FieldError, NotFound, ValidationFailed
from crm_segments.kernel.sql import execute_count, insert_ignore
from crm_segments.models import Tag
from crm_segments.records.entities import entity_profile_id, suppression_model, tagging_model

from .audit import Actor, record_event
from .names import DEFAULT_TAGS_PER_MINUTE, clean_tag_name, find_tag, get_or_create_tag
from .suppressions import rule_for_tag

HUMAN_SOURCES = ("manual", "api")


@dataclass(frozen=True)
class TagChange:
    tag: Tag
    changed: bool  # False: the entity already had the tag (add) or did not have it (remove)
    suppressed: bool = False  # a removal that keeps auto-tag rules from adding the tag back


def resolve_tag(
    *, session: Session, tag_name: object = None, tag_id: int | None = None, user_id: int | None = None,
    create: bool = True, per_minute: int | None = DEFAULT_TAGS_PER_MINUTE,
) -> Tag:
    """The tag named by id or by name (created when ``create`` and missing, within the user's
    ``per_minute`` new tags)."""
    if (tag_name is None) == (tag_id is None):
        raise ValidationFailed([FieldError("tag", "give either a tag name or a tag id")])
    if tag_id is not None:
        tag = session.get(Tag, tag_id)
        if tag is None:
            raise NotFound(f"tag_id: no tag with id {tag_id}")
        return tag
    if create:
        return get_or_create_tag(session=session, name=tag_name, created_by_id=user_id, field="tag",
                                 per_minute=per_minute)[0]
    found = find_tag(session=session, name=clean_tag_name(tag_name, field="tag"))
    if found is None:
        raise NotFound(f"tag: no tag named {tag_name!r}")
    return found


def add_tag(
    *, session: Session, entity_type: str, entity_id: int, tag_name: object = None,
    tag_id: int | None = None, user_id: int | None = None, source: str = "manual",
    now: dt.datetime | None = None, per_minute: int | None = DEFAULT_TAGS_PER_MINUTE,
) -> TagChange:
    """Tag one entity; adding a tag it already has changes nothing and writes no audit. A new tag
    named here counts against the user's ``per_minute`` new tags."""
    now = now or utcnow()
    profile_id = entity_profile_id(session=session, entity_type=entity_type, entity_id=entity_id)
    tag = resolve_tag(session=session, tag_name=tag_name, tag_id=tag_id, user_id=user_id,
                      per_minute=per_minute)
    model = tagging_model(entity_type)
    added = execute_count(session, insert_ignore(session, model.__table__).values(
        entity_id=entity_id, tag_id=tag.id, source=source, added_by_id=user_id, added_at=now,
    ))
    if not added:
        return TagChange(tag, changed=False)
    record_event(session=session, entity_type=entity_type, entity_id=entity_id, profile_id=profile_id,
                 tag=tag, action="added", actor=Actor(source, user_id=user_id), now=now)
    return TagChange(tag, changed=True)


def remove_tag(
    *, session: Session, entity_type: str, entity_id: int, tag_name: object = None,
    tag_id: int | None = None, user_id: int | None = None, source: str = "manual",
    now: dt.datetime | None = None,
) -> TagChange:
    """Untag one entity; removing a tag it does not have changes nothing."""
    now = now or utcnow()
    profile_id = entity_profile_id(session=session, entity_type=entity_type, entity_id=entity_id)
    tag = resolve_tag(session=session, tag_name=tag_name, tag_id=tag_id, create=False)
    model = tagging_model(entity_type)
    removed = session.execute(
        delete(model).where(model.entity_id == entity_id, model.tag_id == tag.id).returning(model.rule_id)
    ).first()
    if removed is None:
        return TagChange(tag, changed=False)
    record_event(session=session, entity_type=entity_type, entity_id=entity_id, profile_id=profile_id,
                 tag=tag, action="removed", actor=Actor(source, user_id=user_id), now=now)
    suppressed = False
    if source in HUMAN_SOURCES:
        rule_id = removed.rule_id or rule_for_tag(session, entity_type, tag.id)
        if rule_id is not None:
            suppressed = True
            session.execute(insert_ignore(session, suppression_model(entity_type).__table__).values(
                entity_id=entity_id, tag_id=tag.id, rule_id=rule_id, suppressed_by_id=user_id,
                suppressed_at=now,
            ))
    return TagChange(tag, changed=True, suppressed=suppressed)


def taggings_by_entity(
    *, session: Session, entity_type: str, entity_ids: Sequence[int],
) -> dict[int, list[Any]]:
    """The taggings of several entities of one type in one query, by entity id (for lists)."""
    model = tagging_model(entity_type)
    found: dict[int, list[Any]] = {entity_id: [] for entity_id in entity_ids}
    if entity_ids:
        query = (select(model).join(Tag, Tag.id == model.tag_id).where(model.entity_id.in_(entity_ids))
                 .order_by(Tag.name_key))
        for tagging in session.scalars(query):
            found[tagging.entity_id].append(tagging)
    return found

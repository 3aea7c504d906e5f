"""The tag audit trail: every added or removed tagging becomes a ``crm_tag_events`` row.

Events are written by ``INSERT ... SELECT`` from whatever set of (entity, tag) pairs changed, so a
bulk operation over 100,000 profiles writes its audit in one statement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Insert, Integer, String, insert, literal, select
from sqlalchemy.orm import Session

from crm_segments.db import UTCDateTime
from crm_segments.models import AutoTagRule, BulkOperation, Tag, TagEvent, User
from crm_segments.records.entities import owner_profile_id

EVENT_COLUMNS = (
    "entity_type", "entity_id", "profile_id", "tag_id", "tag_name", "action", "source",
    "user_id", "rule_id", "bulk_operation_id", "occurred_at",
)


@dataclass(frozen=True)
class Actor:
    """Who or what made a change: a user, an auto-tag rule, a bulk operation, with a source."""

    source: str
    user_id: int | None = None
    rule_id: int | None = None
    bulk_operation_id: int | None = None


def _int(value: int | None) -> ColumnElement[int]:
    return literal(value, Integer())


def events_insert(
    changed: FromClause, *, entity_type: str, action: str, actor: Actor,
    now: dt.datetime | ColumnElement[Any], entity_col: str = "entity_id", tag_col: str = "tag_id",
) -> Insert:
    """``INSERT INTO crm_tag_events SELECT ...`` one event per row of ``changed`` (entity id, tag id).

    ``now`` may be a bound parameter, for statements built once and run many times.
    """
    entity_id = changed.c[entity_col]
    occurred_at = now if isinstance(now, ColumnElement) else literal(now, UTCDateTime())
    rows = select(
        literal(entity_type, String()), entity_id, owner_profile_id(entity_type, entity_id),
        changed.c[tag_col], Tag.name, literal(action, String()), literal(actor.source, String()),
        _int(actor.user_id), _int(actor.rule_id), _int(actor.bulk_operation_id), occurred_at,
    ).select_from(changed).join(Tag, Tag.id == changed.c[tag_col])
    return insert(TagEvent).from_select(list(EVENT_COLUMNS), rows)


def record_event(
    *, session: Session, entity_type: str, entity_id: int, profile_id: int, tag: Tag, action: str,
    actor: Actor, now: dt.datetime,
) -> None:
    """One event for one change (manual tagging), without a round trip to read anything."""
    session.execute(insert(TagEvent).values(
        entity_type=entity_type, entity_id=entity_id, profile_id=profile_id, tag_id=tag.id,
        tag_name=tag.name, action=action, source=actor.source, user_id=actor.user_id,
        rule_id=actor.rule_id, bulk_operation_id=actor.bulk_operation_id, occurred_at=now,
    ))


@dataclass(frozen=True)
class HistoryEntry:
    event: TagEvent
    user_name: str | None
    rule_name: str | None
    bulk_description: str | None
    tag_deleted: bool


def tag_history(*, session: Session, profile_id: int, limit: int = 100,
                entity: tuple[str, int] | None = None) -> Sequence[HistoryEntry]:
    """Tag changes of a profile and its records, newest first; or only of ``entity`` (type, id), one
    of that profile's records (read through the profile's index, like the whole history)."""
    query = (
        select(TagEvent, User.name, User.email, AutoTagRule.name, BulkOperation.selection_description,
               Tag.id.is_(None))
        .outerjoin(Tag, Tag.id == TagEvent.tag_id)
        .outerjoin(User, User.id == TagEvent.user_id)
        .outerjoin(AutoTagRule, AutoTagRule.id == TagEvent.rule_id)
        .outerjoin(BulkOperation, BulkOperation.id == TagEvent.bulk_operation_id)
        .where(TagEvent.profile_id == profile_id)
        .order_by(TagEvent.occurred_at.desc(), TagEvent.id.desc())
        .limit(limit)
    )
    if entity is not None:
        query = query.where(TagEvent.entity_type == entity[0], TagEvent.entity_id == entity[1])
    return [HistoryEntry(event, user_name or user_email, rule_name, bulk, bool(deleted))
            for event, user_name, user_email, rule_name, bulk, deleted in session.execute(query)]

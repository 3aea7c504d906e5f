"""A profile's activity, newest first: its records, tag changes, segment entries and exits, workflow
steps, messages and their delivery events, and consent changes, in keyset pages.

Each source is read by one bounded query (``LIMIT page + 1`` newest before the cursor, on the
source's profile-and-time index or through the profile's messages and enrollments), and the sources
are merged in Python; a page therefore costs the same at any depth and never reads a whole history.
The cursor is the last entry's (time, source, id), so entries at the same instant page exactly.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.models import (
    ConsentChange,
    Enrollment,
    EnrollmentStep,
    Message,
    MessageEvent,
    Segment,
    SegmentEvent,
    TagEvent,
    Workflow,
)
from crm_segments.models.record_types import RecordType, record_types

PAGE_SIZE = 25


@dataclass(frozen=True)
class Entry:
    at: dt.datetime
    source: str  # the name of one of sources()
    id: int
    title: str
    detail: str = ""
    link: tuple[str, int] | None = None  # (record type, id) of a record or message to link to

    @property
    def cursor(self) -> str:
        return f"{self.at.isoformat()}~{self.source}~{self.id}"


@dataclass(frozen=True)
class TimelinePage:
    entries: list[Entry]
    older: str | None  # the cursor of the next (older) page; None on the last page


@dataclass(frozen=True)
class Cursor:
    at: dt.datetime
    rank: int
    id: int


@dataclass(frozen=True)
class Source:
    name: str
    time: Any  # the column an entry is dated by
    id: Any
    query: Callable[[int], Any]  # the source's rows of one profile: a Select
    entry: Callable[[Any], Entry]


def _records(record_type: RecordType) -> Source:
    model, kind, owner = record_type.model, record_type.name, getattr(record_type.model, record_type.owner)
    status = record_type.status

    def entry(row: Any) -> Entry:
        title = f"{kind.capitalize()} {record_type.display_label(row)} created"
        return Entry(row.created_at, kind, row.id, title, f"now {getattr(row, status)}" if status else "",
                     (kind, row.id))

    return Source(kind, model.created_at, model.id,
                  lambda profile_id: select(model).where(owner == profile_id), entry)


def _step_title(row: Any) -> str:
    return f"Workflow {row.name}: step {row.EnrollmentStep.step_key}"


def _consent_title(change: Any) -> str:
    return (f"{'SMS' if change.channel == 'sms' else 'Email'} consent "
            f"{'given' if change.new_value else 'withdrawn'}")


_ACTIVITY: tuple[Source, ...] = (
    Source("tag", TagEvent.occurred_at, TagEvent.id,
           lambda pid: select(TagEvent).where(TagEvent.profile_id == pid),
           lambda e: Entry(e.occurred_at, "tag", e.id,
                           f"Tag {e.tag_name!r} {'added' if e.action == 'added' else 'removed'}",
                           f"on the {e.entity_type}" if e.entity_type != "profile" else f"by {e.source}")),
    Source("segment", SegmentEvent.occurred_at, SegmentEvent.id,
           lambda pid: select(SegmentEvent, Segment.name).join(Segment, Segment.id == SegmentEvent.segment_id)
           .where(SegmentEvent.profile_id == pid),
           lambda r: Entry(r.SegmentEvent.occurred_at, "segment", r.SegmentEvent.id,
                           f"{'Entered' if r.SegmentEvent.kind == 'entered' else 'Left'} segment {r.name}",
                           f"by {r.SegmentEvent.source}")),
    Source("workflow", EnrollmentStep.ran_at, EnrollmentStep.id,
           lambda pid: select(EnrollmentStep, Workflow.name)
           .join(Enrollment, Enrollment.id == EnrollmentStep.enrollment_id)
           .join(Workflow, Workflow.id == Enrollment.workflow_id).where(Enrollment.profile_id == pid),
           lambda r: Entry(r.EnrollmentStep.ran_at, "workflow", r.EnrollmentStep.id, _step_title(r),
                           r.EnrollmentStep.outcome.replace("_", " "))),
    Source("message", Message.created_at, Message.id,
           lambda pid: select(Message).where(Message.profile_id == pid),
           lambda m: Entry(m.created_at, "message", m.id,
                           f"{'SMS' if m.channel == 'sms' else 'Email'} {m.subject or m.template_key}",
                           f"now {m.status}", ("message", m.id))),
    Source("delivery", MessageEvent.occurred_at, MessageEvent.id,
           lambda pid: select(MessageEvent).join(Message, Message.id == MessageEvent.message_id)
           .where(Message.profile_id == pid),
           lambda e: Entry(e.occurred_at, "delivery", e.id, f"Message {e.event}", e.detail[:200],
                           ("message", e.message_id) if e.message_id else None)),
    Source("consent", ConsentChange.changed_at, ConsentChange.id,
           lambda pid: select(ConsentChange).where(ConsentChange.profile_id == pid),
           lambda c: Entry(c.changed_at, "consent", c.id, _consent_title(c),
                           f"by {c.source} {c.actor}".strip())),
)


def sources() -> tuple[Source, ...]:
    """The record types registered now, then the other activity, in the order ties are broken."""
    return (*map(_records, record_types()), *_ACTIVITY)


def _ranks() -> dict[str, int]:
    return {source.name: rank for rank, source in enumerate(sources())}


def profile_timeline(session: Session, *, profile_id: int, before: str | None = None,
                     limit: int = PAGE_SIZE) -> TimelinePage:
    """One page of the profile's activity, newest first, older than the cursor ``before``."""
    cursor = parse_cursor(before) if before else None
    found: list[Iterable[Entry]] = []
    ranks = _ranks()
    for rank, source in enumerate(sources()):
        query = source.query(profile_id)
        if cursor is not None:
            query = query.where(_older(source, rank, cursor))
        rows = session.execute(query.order_by(source.time.desc(), source.id.desc()).limit(limit + 1))
        single = len(query.column_descriptions) == 1
        found.append([source.entry(row[0] if single else row) for row in rows])
    merged = list(heapq.merge(*found, key=lambda e: (e.at, ranks[e.source], e.id), reverse=True))
    page = merged[:limit]
    return TimelinePage(page, page[-1].cursor if len(merged) > limit else None)


def _older(source: Source, rank: int, cursor: Cursor) -> ColumnElement[bool]:
    """Rows after the cursor in (time, source rank, id) descending order."""
    time: ColumnElement[Any] = source.time
    if rank < cursor.rank:
        return time <= cursor.at
    if rank > cursor.rank:
        return time < cursor.at
    return or_(source.time < cursor.at, and_(source.time == cursor.at, source.id < cursor.id))


def parse_cursor(raw: str) -> Cursor:
    parts = raw.split("~")
    try:
        at, name, row_id = parts
        moment = dt.datetime.fromisoformat(at)
        ranks = _ranks()
        if moment.tzinfo is None or name not in ranks or not row_id.isdigit():
            raise ValueError(raw)
        return Cursor(moment, ranks[name], int(row_id))
    except ValueError:
        raise ValidationFailed([FieldError("activity_before", "must be a cursor from an activity page's "
                                                               "Older link")]) from None

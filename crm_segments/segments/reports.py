"""What the segment screens and API show: overlap of two segments, size over time, the entered /
exited log. Counts are aggregates in SQL; pages are keyset-paginated."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from crm_segments.models import Profile, SegmentEvent, SegmentMember, SegmentSizePoint

from .membership import count_members


@dataclass(frozen=True)
class Overlap:
    a_only: int
    b_only: int
    both: int

    @property
    def union(self) -> int:
        return self.a_only + self.b_only + self.both


def overlap(session: Session, a_id: int, b_id: int) -> Overlap:
    """How many stored members are only in A, only in B, and in both."""
    a, b = aliased(SegmentMember), aliased(SegmentMember)
    both = session.scalar(select(func.count()).select_from(a).join(b, b.profile_id == a.profile_id)
                          .where(a.segment_id == a_id, b.segment_id == b_id)) or 0
    size_a, size_b = count_members(session, a_id), count_members(session, b_id)
    return Overlap(size_a - both, size_b - both, both)


def size_history(session: Session, segment_id: int, *, since: dt.datetime | None = None,
                 limit: int = 500) -> list[SegmentSizePoint]:
    """The latest ``limit`` size points (oldest first)."""
    query = select(SegmentSizePoint).where(SegmentSizePoint.segment_id == segment_id)
    if since is not None:
        query = query.where(SegmentSizePoint.measured_at >= since)
    latest = list(session.scalars(query.order_by(SegmentSizePoint.id.desc()).limit(limit)))
    return latest[::-1]


@dataclass(frozen=True)
class EventRow:
    id: int
    kind: str
    occurred_at: dt.datetime
    source: str
    profile_id: int
    profile_name: str
    email: str | None


@dataclass(frozen=True)
class EventPage:
    items: list[EventRow]
    next_before: int | None  # pass as ``before`` for older events


def events_page(session: Session, segment_id: int, *, kind: str | None = None, before: int | None = None,
                limit: int = 50) -> EventPage:
    """Entered / exited events, newest first."""
    query: Any = (
        select(SegmentEvent.id, SegmentEvent.kind, SegmentEvent.occurred_at, SegmentEvent.source,
               Profile.id, Profile.first_name, Profile.last_name, Profile.external_id, Profile.email)
        .join(Profile, Profile.id == SegmentEvent.profile_id)
        .where(SegmentEvent.segment_id == segment_id)
        .order_by(SegmentEvent.id.desc()).limit(limit + 1)
    )
    if kind in ("entered", "exited"):
        query = query.where(SegmentEvent.kind == kind)
    if before is not None:
        query = query.where(SegmentEvent.id < before)
    rows = session.execute(query).all()
    items = [
        EventRow(r[0], r[1], r[2], r[3], r[4], " ".join(p for p in (r[5], r[6]) if p) or r[7], r[8])
        for r in rows[:limit]
    ]
    return EventPage(items, items[-1].id if len(rows) > limit else None)

"""Profiles that entered segments today: a count per segment and the latest entries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.models import Profile, Segment, SegmentDay, SegmentEvent


@dataclass(frozen=True)
class Entry:
    occurred_at: dt.datetime
    segment_id: int
    segment_name: str
    profile_id: int
    profile_name: str
    mine: bool


@dataclass(frozen=True)
class SegmentEntries:
    segment_id: int
    segment_name: str
    entered: int


@dataclass(frozen=True)
class TodaysEntries:
    per_segment: list[SegmentEntries]  # segments with an entry today, most entries first
    latest: list[Entry]

    @property
    def total(self) -> int:
        return sum(s.entered for s in self.per_segment)


def start_of_day(now: dt.datetime) -> dt.datetime:
    return dt.datetime.combine(now.astimezone(dt.UTC).date(), dt.time(), dt.UTC)


def _latest(session: Session, since: dt.datetime, *condition: Any, limit: int) -> list[Any]:
    query = (select(SegmentEvent.occurred_at, Segment.id, Segment.name, Profile.id, Profile.first_name,
                    Profile.last_name, Profile.external_id, Profile.owner_id)
             .join(Segment, Segment.id == SegmentEvent.segment_id)
             .join(Profile, Profile.id == SegmentEvent.profile_id)
             .where(SegmentEvent.kind == "entered", SegmentEvent.occurred_at >= since, *condition)
             .order_by(SegmentEvent.occurred_at.desc(), SegmentEvent.id.desc()).limit(limit))
    return list(session.execute(query))


def todays_entries(session: Session, *, now: dt.datetime, owner_id: int | None = None,
                   limit: int = 10) -> TodaysEntries:
    since = start_of_day(now)
    # Kept per segment and day by triggers on crm_segment_events (models/day_counts.py).
    counts = session.execute(select(Segment.id, Segment.name, SegmentDay.entered)
                             .join(SegmentDay, SegmentDay.segment_id == Segment.id)
                             .where(SegmentDay.day == since.date(), SegmentDay.entered > 0))
    per_segment = sorted((SegmentEntries(i, name, n) for i, name, n in counts),
                         key=lambda s: (-s.entered, s.segment_name))
    rows = []
    if per_segment and owner_id is None:
        rows = _latest(session, since, limit=limit)
    elif per_segment:
        rows = _latest(session, since, Profile.owner_id == owner_id, limit=limit)
        if len(rows) < limit:
            others = Profile.owner_id.is_distinct_from(owner_id)
            rows += _latest(session, since, others, limit=limit - len(rows))
    latest = [Entry(at, segment_id, segment_name, profile_id, " ".join(p for p in (first, last) if p) or ext,
                    owner_id is not None and owner == owner_id)
              for at, segment_id, segment_name, profile_id, first, last, ext, owner in rows]
    return TodaysEntries(per_segment, latest)

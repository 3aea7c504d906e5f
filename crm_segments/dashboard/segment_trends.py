"""Every segment with its size and its size trend over the last days (one value per day)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.models import Segment
from crm_segments.segments.daily_sizes import daily_sizes, filled_days

TREND_DAYS = 30


@dataclass(frozen=True)
class SegmentTrend:
    segment_id: int
    name: str
    kind: str
    members: int
    last_refreshed_at: dt.datetime | None
    last_error: str | None
    sizes: list[int]  # one per day, oldest first; empty when never measured in the period


def segment_trends(session: Session, *, now: dt.datetime, days: int = TREND_DAYS) -> list[SegmentTrend]:
    today = now.astimezone(dt.UTC).date()
    since = dt.datetime.combine(today - dt.timedelta(days=days - 1), dt.time(), dt.UTC)
    sizes = daily_sizes(session, since=since)
    segments = session.execute(select(Segment.id, Segment.name, Segment.kind, Segment.member_count,
                                      Segment.last_refreshed_at, Segment.last_error).order_by(Segment.name))
    return [SegmentTrend(segment_id, name, kind, members, refreshed, error,
                         filled_days(sizes.get(segment_id, {}), until=today)[1])
            for segment_id, name, kind, members, refreshed, error in segments]

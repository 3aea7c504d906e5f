"""A segment's size per day: the last measurement of each UTC day, chosen in SQL.

A segment is measured at every refresh, several times a day; charts show one value per day so two
measurements of the same day never draw as a vertical jump. Days without a measurement carry the
previous day's size forward (a size is a level, not a count of events).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.models import SegmentSizePoint
from crm_segments.utc_day import as_date, utc_day


def daily_sizes(session: Session, *, since: dt.datetime,
                segment_ids: Iterable[int] | None = None) -> dict[int, dict[dt.date, int]]:
    """{segment id: {day: size at the end of that day}} for days since ``since``."""
    day = utc_day(SegmentSizePoint.measured_at)
    latest_first = func.row_number().over(
        partition_by=(SegmentSizePoint.segment_id, day),
        order_by=(SegmentSizePoint.measured_at.desc(), SegmentSizePoint.id.desc()),
    )
    ranked = (select(SegmentSizePoint.segment_id, day.label("day"), SegmentSizePoint.size,
                     latest_first.label("n"))
              .where(SegmentSizePoint.measured_at >= since))
    if segment_ids is not None:
        ranked = ranked.where(SegmentSizePoint.segment_id.in_(list(segment_ids)))
    sub = ranked.subquery()
    rows = session.execute(select(sub.c.segment_id, sub.c.day, sub.c.size).where(sub.c.n == 1))
    found: dict[int, dict[dt.date, int]] = defaultdict(dict)
    for segment_id, measured_day, size in rows:
        found[segment_id][as_date(measured_day)] = size
    return found


def filled_days(sizes: dict[dt.date, int], *, until: dt.date) -> tuple[list[dt.date], list[int]]:
    """Every day from the first measured one to ``until``, each with the size last measured by then."""
    if not sizes:
        return [], []
    days, values = [], []
    day, size = min(sizes), 0
    while day <= until:
        size = sizes.get(day, size)
        days.append(day)
        values.append(size)
        day += dt.timedelta(days=1)
    return days, values

"""A segment's size over time as a line chart of daily sizes (see web/ui/common/charts.py)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from crm_segments.models import Segment
from crm_segments.segments.daily_sizes import daily_sizes, filled_days
from crm_segments.web.ui.common.charts import LineChart, Series, line_chart

CHART_DAYS = 90


def size_chart(session: Session, segment: Segment, *, now: dt.datetime) -> LineChart | None:
    """The last CHART_DAYS days of sizes; a segment measured once (or long ago) shows its current size
    as today's point, so the chart is there from the first refresh."""
    since = dt.datetime.combine(now.date() - dt.timedelta(days=CHART_DAYS - 1), dt.time(), dt.UTC)
    sizes = daily_sizes(session, since=since, segment_ids=[segment.id]).get(segment.id, {})
    if not sizes and (segment.last_refreshed_at is not None or segment.member_count):
        sizes = {now.date(): segment.member_count}
    days, values = filled_days(sizes, until=now.date())
    return line_chart(days, [Series("Members", "size", values)], zero_based=False)

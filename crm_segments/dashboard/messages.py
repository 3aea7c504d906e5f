"""Messages per day: sent, delivered, opened, clicked (by the day each message was sent) and converted
(enrollments whose goal was met that day after a message, as the workflow results count them)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.models import Enrollment, MessageDay, Workflow
from crm_segments.utc_day import as_date, utc_day
from crm_segments.workflows.results import converted_condition

METRICS = ("sent", "delivered", "opened", "clicked", "converted")
RANGES = (30, 90)


@dataclass(frozen=True)
class DailyMessages:
    days: list[dt.date]
    counts: dict[str, list[int]]  # metric -> one count per day

    def total(self, metric: str) -> int:
        return sum(self.counts[metric])


def daily_messages(session: Session, *, now: dt.datetime, days: int) -> DailyMessages:
    """The last ``days`` days up to today, every day present (zero when nothing happened)."""
    today = now.astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=days - 1)
    since = dt.datetime.combine(first, dt.time(), dt.UTC)
    calendar = [first + dt.timedelta(days=i) for i in range(days)]
    position = {day: i for i, day in enumerate(calendar)}
    counts = {metric: [0] * days for metric in METRICS}

    # Kept per day by triggers on crm_messages (models/day_counts.py): a few rows a day, not every message.
    sent = session.execute(
        select(MessageDay.day, func.sum(MessageDay.sent), func.sum(MessageDay.delivered),
               func.sum(MessageDay.opened), func.sum(MessageDay.clicked))
        .where(MessageDay.day >= first).group_by(MessageDay.day)
    )
    for day, *values in sent:
        if (i := position.get(as_date(day))) is not None:
            for metric, value in zip(METRICS[:4], values, strict=True):
                counts[metric][i] = int(value or 0)

    goal_day = utc_day(Enrollment.goal_met_at)
    converted = session.execute(
        select(goal_day, func.count())
        .join(Workflow, Workflow.id == Enrollment.workflow_id)
        .where(Enrollment.goal_met_at >= since, converted_condition())
        .group_by(goal_day)
    )
    for day, value in converted:
        if (i := position.get(as_date(day))) is not None:
            counts["converted"][i] = value
    return DailyMessages(calendar, counts)

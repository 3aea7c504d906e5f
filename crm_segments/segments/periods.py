"""Calendar arithmetic for relative date conditions ("within the last 3 months").

Cut-offs are computed here in Python from the caller's ``now`` and bound as parameters, so SQLite
and PostgreSQL compare against the very same instants and no SQL date arithmetic is involved.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Literal, TypeVar

Unit = Literal["days", "weeks", "months"]
UNITS: tuple[Unit, ...] = ("days", "weeks", "months")

D = TypeVar("D", dt.date, dt.datetime)


def shift(point: D, amount: int, unit: Unit) -> D:
    """``point`` moved by ``amount`` units; months keep the day, clamped to the month's last day."""
    if unit == "days":
        return point + dt.timedelta(days=amount)
    if unit == "weeks":
        return point + dt.timedelta(weeks=amount)
    months = point.year * 12 + (point.month - 1) + amount
    year, month = divmod(months, 12)
    day = min(point.day, calendar.monthrange(year, month + 1)[1])
    return point.replace(year=year, month=month + 1, day=day)


def start_of_day(day: dt.date) -> dt.datetime:
    """Midnight UTC at the start of ``day``: dates given for timestamp fields are UTC days."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def today(now: dt.datetime) -> dt.date:
    return now.astimezone(dt.UTC).date()


def month_day(day: dt.date) -> int:
    """Day of year as month * 100 + day (Feb 29 is 229), comparable the same way in SQL."""
    return day.month * 100 + day.day


def anniversary_ranges(now: dt.datetime, days: int) -> list[tuple[int, int]] | None:
    """Month-day ranges (inclusive) covering anniversaries from today to ``days`` days ahead.

    None means every day of the year. A Feb 29 anniversary falls on Feb 28 in common years, so a
    window ending on Feb 28 of a common year also takes in 229. A window that wraps past New Year
    becomes two ranges.
    """
    if days >= 365:
        return None
    first = today(now)
    last = first + dt.timedelta(days=days)
    lo, hi = month_day(first), month_day(last)
    if hi == 228 and not calendar.isleap(last.year):
        hi = 229
    if lo <= hi:
        return [(lo, hi)]
    return [(lo, 1231), (101, hi)]

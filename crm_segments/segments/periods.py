"""Calendar arithmetic for relative date conditions ("within the last 3 months").

Cut-offs are computed here in Python from the caller's ``now`` and bound as parameters, so SQLite
and PostgreSQL compare against the very same instants and no SQL date arithmetic is involved.

A rule is compiled either at a fixed ``now`` (a datetime: full refreshes, previews) or with a
``BoundNow``: a statement built once and run many times (near-real-time re-evaluation) then takes
its instants as named parameters, computed from the exact time of each execution.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from sqlalchemy import bindparam
from sqlalchemy.sql.elements import BindParameter

from crm_segments.db import UTCDateTime

Unit = Literal["days", "weeks", "months"]
UNITS: tuple[Unit, ...] = ("days", "weeks", "months")

D = TypeVar("D", dt.date, dt.datetime)


class BoundNow:
    """"now" for a statement built once for ``day`` and executed at any instant of that day.

    Timestamp cut-offs ("finished within the last 30 days") become named parameters whose values
    ``values(now)`` computes at execution, so a cached statement evaluates a change at the very time
    it happened, exactly as a full refresh at that time would. Conditions on calendar dates depend
    on the day only and stay literal: the caller keys its cache by the day.
    """

    def __init__(self, day: dt.date) -> None:
        self.day = day
        self._shifts: dict[str, Callable[[dt.datetime], dt.datetime]] = {}

    def instant(self, amount: int = 0, unit: Unit = "days") -> BindParameter[dt.datetime]:
        """``now`` moved by ``amount`` units, as a parameter shared by every use of that instant."""
        direction = "plus" if amount > 0 else "minus"
        key = "rule_now" if amount == 0 else f"rule_now_{direction}_{abs(amount)}_{unit}"
        self._shifts.setdefault(key, lambda now: shift(now, amount, unit))
        return bindparam(key, type_=UTCDateTime())

    def values(self, now: dt.datetime) -> dict[str, Any]:
        """The parameters for an execution at ``now``, which must fall on the statement's day."""
        if today(now) != self.day:
            raise ValueError(f"{now.isoformat()} is not on {self.day.isoformat()}, the statement's day")
        return {key: moved(now) for key, moved in self._shifts.items()}


Now = dt.datetime | BoundNow  # what rules are compiled at


def instant(now: Now, amount: int = 0, unit: Unit = "days") -> dt.datetime | BindParameter[dt.datetime]:
    """``now`` moved by ``amount`` units: a value, or a parameter of a statement built once."""
    if isinstance(now, BoundNow):
        return now.instant(amount, unit)
    return shift(now, amount, unit) if amount else now


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


def today(now: Now) -> dt.date:
    if isinstance(now, BoundNow):
        return now.day
    return now.astimezone(dt.UTC).date()


def month_day(day: dt.date) -> int:
    """Day of year as month * 100 + day (Feb 29 is 229), comparable the same way in SQL."""
    return day.month * 100 + day.day


def anniversary_ranges(now: Now, days: int) -> list[tuple[int, int]] | None:
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

"""When a wait step ends: after a duration, or at the next given weekday and time in the profile's
own time zone (a profile without a valid zone uses the default)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import lru_cache
from typing import Any

from .step_types import WEEKDAYS

DEFAULT_TIME_ZONE = "UTC"


@lru_cache(maxsize=512)
def zone(name: str | None) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name or DEFAULT_TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(DEFAULT_TIME_ZONE)


def wait_end(step: dict[str, Any], *, now: dt.datetime, time_zone: str | None) -> dt.datetime:
    """The UTC moment the wait ``step`` started at ``now`` is over."""
    if duration := step.get("duration"):
        return now + dt.timedelta(days=duration.get("days", 0), hours=duration.get("hours", 0),
                                  minutes=duration.get("minutes", 0))
    until = step["until"]
    return next_local_time(now, weekdays=until.get("weekdays") or list(WEEKDAYS), at=until["time"],
                           time_zone=time_zone)


def next_local_time(now: dt.datetime, *, weekdays: list[str], at: str, time_zone: str | None) -> dt.datetime:
    """The first moment at or after ``now`` that is one of ``weekdays`` at ``at`` (HH:MM) locally.

    A time that does not exist on a day (clocks jump forward) is taken with the offset before the
    jump, i.e. the same wall-clock instant people would see in a calendar an hour later.
    """
    tz = zone(time_zone)
    local_now = now.astimezone(tz)
    hour, minute = (int(part) for part in at.split(":"))
    wanted = {WEEKDAYS.index(day) for day in weekdays}
    for days_ahead in range(8):
        day = local_now.date() + dt.timedelta(days=days_ahead)
        if day.weekday() not in wanted:
            continue
        candidate = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=tz).astimezone(dt.UTC)
        if candidate >= now:
            return candidate
    raise ValueError(f"no weekday among {weekdays!r}")  # unreachable: a week has every weekday

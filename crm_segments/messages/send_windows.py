"""Quiet hours: the local hours of the recipient's time zone when a channel may send."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_segments.config import SendWindow


def zone(name: str | None, default: str) -> ZoneInfo:
    """The profile's zone, or the default when it has none or an unknown one."""
    for candidate in (name, default):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def next_opening(now: dt.datetime, window: SendWindow | None, tz: ZoneInfo) -> dt.datetime | None:
    """None when ``now`` is inside the window (or there is none), else when it next opens (UTC)."""
    if window is None:
        return None
    local = now.astimezone(tz)
    t = local.time()
    start, end = window.start, window.end
    if start < end:
        if start <= t < end:
            return None
        day = local.date() if t < start else local.date() + dt.timedelta(days=1)
    else:  # spans midnight, e.g. 22:00-07:00
        if t >= start or t < end:
            return None
        day = local.date()
    return dt.datetime.combine(day, start, tzinfo=tz).astimezone(dt.UTC)

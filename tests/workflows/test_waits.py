"""Wait steps: durations, and the next weekday and time in a time zone across DST changes."""

from __future__ import annotations

import datetime as dt

from crm_segments.workflows.waits import next_local_time, wait_end

UTC = dt.UTC


def test_duration() -> None:
    now = dt.datetime(2024, 1, 1, 12, tzinfo=UTC)
    step = {"duration": {"days": 1, "hours": 2, "minutes": 3}}
    assert wait_end(step, now=now, time_zone=None) == now + dt.timedelta(days=1, hours=2, minutes=3)


def test_same_day_later_or_next_matching_weekday() -> None:
    monday_8 = dt.datetime(2024, 6, 3, 8, tzinfo=UTC)
    later = next_local_time(monday_8, weekdays=["mon"], at="09:00", time_zone="UTC")
    assert later == monday_8 + dt.timedelta(hours=1)
    monday_10 = dt.datetime(2024, 6, 3, 10, tzinfo=UTC)
    assert next_local_time(monday_10, weekdays=["mon"], at="09:00", time_zone="UTC") == dt.datetime(
        2024, 6, 10, 9, tzinfo=UTC)
    assert next_local_time(monday_10, weekdays=["tue", "thu"], at="09:00", time_zone=None) == dt.datetime(
        2024, 6, 4, 9, tzinfo=UTC)


def test_local_time_follows_daylight_saving() -> None:
    # Berlin moves from UTC+1 to UTC+2 on 31 March 2024.
    friday = dt.datetime(2024, 3, 29, 12, tzinfo=UTC)
    assert next_local_time(friday, weekdays=["mon"], at="09:00", time_zone="Europe/Berlin") == dt.datetime(
        2024, 4, 1, 7, tzinfo=UTC)
    assert next_local_time(friday, weekdays=["sat"], at="09:00", time_zone="Europe/Berlin") == dt.datetime(
        2024, 3, 30, 8, tzinfo=UTC)


def test_unknown_zone_falls_back_to_utc() -> None:
    now = dt.datetime(2024, 6, 3, 8, tzinfo=UTC)
    assert next_local_time(now, weekdays=["mon"], at="09:00", time_zone="Mars/Olympus") == dt.datetime(
        2024, 6, 3, 9, tzinfo=UTC)

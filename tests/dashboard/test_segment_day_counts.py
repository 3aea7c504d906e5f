"""Entries and exits per segment and day (crm_segment_days, kept by triggers) agree with a count of
the events after refreshes, static-list edits, an erasure and a segment's deletion; the home page's
"entered today" reads them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crm_segments.dashboard.entries import todays_entries
from crm_segments.models import Profile, Segment, SegmentDay, SegmentEvent
from crm_segments.privacy.erasure import erase_profile
from crm_segments.segments.refresh import refresh_segment
from crm_segments.segments.static_lists import change_by_ids
from crm_segments.utc_day import as_date, utc_day
from tests.factories import ProfileFactory

DAY1 = dt.datetime(2030, 3, 1, 9, tzinfo=dt.UTC)
DAY2 = DAY1 + dt.timedelta(days=1)


def recount(session: Session) -> dict[tuple[int, dt.date], tuple[int, int]]:
    day = utc_day(SegmentEvent.occurred_at)
    rows = session.execute(
        select(SegmentEvent.segment_id, day, SegmentEvent.kind, func.count())
        .group_by(SegmentEvent.segment_id, day, SegmentEvent.kind))
    counted: dict[tuple[int, dt.date], list[int]] = {}
    for segment_id, on, kind, n in rows:
        counted.setdefault((segment_id, as_date(on)), [0, 0])[kind == "exited"] = n
    return {key: (entered, exited) for key, (entered, exited) in counted.items()}


def agree(session: Session) -> dict[tuple[int, dt.date], tuple[int, int]]:
    session.flush()
    kept = {(row.segment_id, as_date(row.day)): (row.entered, row.exited)
            for row in session.scalars(select(SegmentDay)) if row.entered or row.exited}
    counted = recount(session)
    assert kept == counted
    return counted


def live_segment(session: Session) -> Segment:
    segment = Segment(name="In the North", kind="live",
                      rule={"field": "region", "op": "eq", "value": "North"})
    session.add(segment)
    session.flush()
    return segment


def test_day_counts_follow_refreshes_edits_erasure_and_deletion(session: Session, tmp_path: Path) -> None:
    north = [ProfileFactory(region="North") for _ in range(3)]
    south = ProfileFactory(region="South")
    live = live_segment(session)
    refresh_segment(session, live, now=DAY1)  # the first fill writes no events
    assert agree(session) == {}

    session.execute(update(Profile).where(Profile.id == north[0].id).values(region="South"))
    session.execute(update(Profile).where(Profile.id == south.id).values(region="North"))
    refresh_segment(session, live, now=DAY2)
    assert agree(session) == {(live.id, DAY2.date()): (1, 1)}

    static = Segment(name="Picked", kind="static")
    session.add(static)
    session.flush()
    change_by_ids(session, static, [p.id for p in north], action="add", now=DAY1)
    change_by_ids(session, static, [north[1].id], action="remove", now=DAY2)
    change_by_ids(session, static, [south.id], action="add", now=DAY2)
    assert agree(session)[(static.id, DAY2.date())] == (1, 1)

    # A rolled-back change leaves the counts as they were.
    with session.begin_nested() as savepoint:
        change_by_ids(session, static, [p.id for p in north], action="remove", now=DAY2)
        savepoint.rollback()
    assert agree(session)[(static.id, DAY2.date())] == (1, 1)

    # Erasing a profile takes its events out; deleting a segment takes its counts with it.
    erase_profile(session=session, profile_id=south.id, outbox_dir=tmp_path, user_id=None, via="cli")
    assert agree(session) == {(live.id, DAY2.date()): (0, 1), (static.id, DAY1.date()): (3, 0),
                              (static.id, DAY2.date()): (0, 1)}
    session.delete(static)
    session.flush()
    assert agree(session) == {(live.id, DAY2.date()): (0, 1)}
    assert session.scalar(select(func.count()).select_from(SegmentDay)
                          .where(SegmentDay.segment_id == static.id)) == 0


def test_todays_entries_count_per_segment_from_the_day_counts(session: Session) -> None:
    profiles = [ProfileFactory() for _ in range(3)]
    static = Segment(name="Today", kind="static")
    session.add(static)
    session.flush()
    change_by_ids(session, static, [profiles[0].id], action="add", now=DAY1)
    change_by_ids(session, static, [p.id for p in profiles[1:]], action="add", now=DAY2)
    today = todays_entries(session, now=DAY2 + dt.timedelta(hours=2))
    assert [(s.segment_name, s.entered) for s in today.per_segment] == [("Today", 2)]
    assert {e.profile_id for e in today.latest} == {p.id for p in profiles[1:]}

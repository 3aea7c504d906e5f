"""Full refresh: set-based diff, entered / exited events, size history, status, failure changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.models import Segment, SegmentEvent, SegmentMember, SegmentSizePoint
from crm_segments.segments.refresh import (
    RefreshError,
    due_segment_ids,
    refresh_due_segments,
    refresh_segment,
    refresh_settings,
    run_refresh,
)
from tests.factories import ProfileFactory

NOW = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)
IN_ONTARIO = {"field": "region", "op": "eq", "value": "Ontario"}


def make_segment(session: Session, rule: dict[str, Any] | None = None, **values: Any) -> Segment:
    segment = Segment(name=values.pop("name", "Ontario"), kind=values.pop("kind", "live"),
                      rule=rule if rule is not None else IN_ONTARIO, **values)
    session.add(segment)
    session.flush()
    return segment


def members(session: Session, segment: Segment) -> set[int]:
    query = select(SegmentMember.profile_id).where(SegmentMember.segment_id == segment.id)
    return set(session.scalars(query))


def events(session: Session, segment: Segment) -> list[tuple[str, int]]:
    rows = session.execute(select(SegmentEvent.kind, SegmentEvent.profile_id)
                           .where(SegmentEvent.segment_id == segment.id).order_by(SegmentEvent.id))
    return [(kind, pid) for kind, pid in rows]


@pytest.fixture
def ontario(session: Session) -> dict[str, Any]:
    inside = [ProfileFactory(region="Ontario") for _ in range(3)]
    outside = [ProfileFactory(region="Quebec") for _ in range(2)]
    return {"inside": inside, "outside": outside}


def test_first_refresh_fills_the_segment_without_events(session: Session, ontario: Any) -> None:
    segment = make_segment(session)
    result = refresh_segment(session, segment, now=NOW)

    expected = {p.id for p in ontario["inside"]}
    assert members(session, segment) == expected
    assert events(session, segment) == []  # filling a new segment is nobody's entry
    assert (result.size, result.entered, result.exited) == (3, 3, 0)
    assert (segment.member_count, segment.previous_member_count, segment.version) == (3, 0, 1)
    assert segment.last_refreshed_at == NOW and segment.last_error is None and not segment.is_calculating
    point = session.scalars(select(SegmentSizePoint).where(SegmentSizePoint.segment_id == segment.id)).one()
    assert (point.size, point.entered, point.exited, point.measured_at) == (3, 3, 0, NOW)


def test_second_refresh_writes_only_the_difference(session: Session, ontario: Any) -> None:
    segment = make_segment(session)
    refresh_segment(session, segment, now=NOW)
    leaver, joiner = ontario["inside"][0], ontario["outside"][0]
    leaver.region, joiner.region = "Quebec", "Ontario"
    session.flush()

    later = NOW + dt.timedelta(hours=1)
    result = refresh_segment(session, segment, now=later)

    assert (result.entered, result.exited, result.size) == (1, 1, 3)
    assert members(session, segment) == {ontario["inside"][1].id, ontario["inside"][2].id, joiner.id}
    assert events(session, segment) == [("entered", joiner.id), ("exited", leaver.id)]
    second = session.scalars(select(SegmentEvent).where(SegmentEvent.segment_id == segment.id,
                                                        SegmentEvent.occurred_at == later)).all()
    assert {(e.segment_version, e.source) for e in second} == {(2, "refresh")}
    assert (segment.member_count, segment.previous_member_count, segment.version) == (3, 3, 2)
    # A refresh with no change writes no event but still a size point.
    again = refresh_segment(session, segment, now=later + dt.timedelta(hours=1))
    assert (again.entered, again.exited) == (0, 0)
    assert len(events(session, segment)) == 2
    assert session.query(SegmentSizePoint).filter_by(segment_id=segment.id).count() == 3


def test_failing_refresh_changes_nothing(session: Session, ontario: Any) -> None:
    segment = make_segment(session)
    refresh_segment(session, segment, now=NOW)
    before = (members(session, segment), events(session, segment), segment.version, segment.member_count)
    ontario["outside"][0].region = "Ontario"
    segment.rule = {"field": "no_such_field", "op": "eq", "value": "x"}
    session.flush()

    with pytest.raises(RefreshError, match="no_such_field"):
        refresh_segment(session, segment, now=NOW + dt.timedelta(hours=1))

    session.refresh(segment)
    assert (members(session, segment), events(session, segment), segment.version,
            segment.member_count) == before


def test_run_refresh_records_the_error_in_its_own_transaction(
        session: Session, session_factory: sessionmaker[Session], ontario: Any) -> None:
    segment = make_segment(session, rule={"field": "region", "op": "bogus", "value": "x"})
    session.commit()

    result = run_refresh(session_factory, segment.id, now=NOW)

    assert not result.ok and "bogus" in (result.error or "")
    session.expire_all()
    stored = session.get(Segment, segment.id)
    assert stored is not None and "bogus" in (stored.last_error or "") and stored.version == 0
    assert members(session, stored) == set()


def test_refresh_due_segments_respects_intervals_and_order(
        session: Session, session_factory: sessionmaker[Session], ontario: Any) -> None:
    base = make_segment(session, key="ontario", refresh_interval_minutes=60)
    # Tests membership of the base segment: must be refreshed after it in the same run.
    dependent = make_segment(session, name="Ontario via segment", rule={"segment": "ontario"},
                             refresh_interval_minutes=60)
    fresh = make_segment(session, name="Fresh", refresh_interval_minutes=60,
                         last_refreshed_at=NOW - dt.timedelta(minutes=10))
    static = make_segment(session, name="Static", kind="static", rule=None)
    session.commit()

    assert due_segment_ids(session, now=NOW) == [base.id, dependent.id]
    results = refresh_due_segments(session_factory, now=NOW)

    assert [r.segment_id for r in results] == [base.id, dependent.id]
    assert all(r.ok for r in results)
    session.expire_all()
    expected = {p.id for p in ontario["inside"]}
    assert members(session, base) == expected and members(session, dependent) == expected
    assert members(session, fresh) == set() and members(session, static) == set()
    assert due_segment_ids(session, now=NOW + dt.timedelta(minutes=59)) == [fresh.id]


def test_static_lists_are_not_refreshed(session: Session) -> None:
    segment = make_segment(session, kind="static", rule=None)
    with pytest.raises(RefreshError, match="static"):
        refresh_segment(session, segment, now=NOW)


def test_stale_statistics_are_refreshed_on_postgresql(session: Session, backend: str) -> None:
    from crm_segments.segments.statistics import analyze_stale_tables

    # Inside a transaction, as a refresh run calls it; only the plugin's own tables are touched.
    analyzed = analyze_stale_tables(session)
    assert all(name.startswith("crm_") for name in analyzed)
    if backend == "sqlite":
        assert analyzed == []


def test_refresh_transactions_run_without_jit_and_with_more_work_mem_on_postgresql(
        session: Session, backend: str) -> None:
    refresh_settings(session)  # a no-op on SQLite

    if backend == "postgresql":
        assert session.scalar(text("SHOW jit")) == "off"
        assert session.scalar(text("SHOW work_mem")) == "64MB"

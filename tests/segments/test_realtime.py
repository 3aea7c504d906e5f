"""Near-real-time re-evaluation: a service write moves the profile in or out of live segments at once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.models import Segment, SegmentEvent, SegmentMember
from crm_segments.records import KINDS, crud
from crm_segments.segments.realtime import reevaluate_profiles
from crm_segments.segments.refresh import refresh_segment
from tests.factories import ProfileFactory
from tests.segments.test_refresh import NOW, make_segment, members


def member_events(session: Session, segment: Segment, profile_id: int) -> list[tuple[str, str]]:
    rows = session.execute(select(SegmentEvent.kind, SegmentEvent.source).where(
        SegmentEvent.segment_id == segment.id, SegmentEvent.profile_id == profile_id,
    ).order_by(SegmentEvent.id))
    return [(k, s) for k, s in rows]


def test_profile_update_through_the_service_enters_and_leaves_at_once(session: Session) -> None:
    segment = make_segment(session)
    other = make_segment(session, name="Big companies",
                         rule={"field": "company_size", "op": "gte", "value": 500})
    profile = ProfileFactory(region="Quebec")
    bystander = ProfileFactory(region="Ontario")
    refresh_segment(session, segment, now=NOW)
    assert members(session, segment) == {bystander.id}

    crud.update(KINDS["profiles"], session=session, id=profile.id, data={"region": "Ontario"})

    assert members(session, segment) == {bystander.id, profile.id}
    assert member_events(session, segment, profile.id) == [("entered", "realtime")]
    session.refresh(segment)
    assert segment.member_count == 2 and segment.version == 1  # realtime keeps the refresh version
    assert members(session, other) == set()

    crud.update(KINDS["profiles"], session=session, id=profile.id, data={"region": "Manitoba"})

    assert members(session, segment) == {bystander.id}
    assert member_events(session, segment, profile.id) == [("entered", "realtime"), ("exited", "realtime")]
    session.refresh(segment)
    assert segment.member_count == 1


def test_a_new_record_enters_a_records_segment(session: Session) -> None:
    segment = make_segment(session, name="Has a job",
                           rule={"records": "jobs", "exists": True,
                                 "where": {"field": "status", "op": "eq", "value": "completed"}})
    profile = ProfileFactory()

    crud.create(KINDS["jobs"], session=session, data={
        "external_id": "J-RT-1", "profile_id": profile.id, "title": "Roof", "status": "completed",
        "amount": "120.00", "finished_at": "2025-02-01T10:00:00+00:00"})

    assert members(session, segment) == {profile.id}


def test_dependent_segments_follow_in_dependency_order(session: Session) -> None:
    # Created first, so a plain id order would evaluate it before the segment it tests.
    dependent = make_segment(session, name="Ontario and big", rule={"all": [
        {"segment": "ontario"}, {"field": "company_size", "op": "gte", "value": 100}]})
    base = make_segment(session, key="ontario")
    profile = ProfileFactory(region="Quebec", company_size=500)

    changes = reevaluate_profiles(session, [profile.id], now=NOW)
    assert changes == {}

    profile.region = "Ontario"
    session.flush()
    changes = reevaluate_profiles(session, [profile.id], now=NOW)

    assert set(changes) == {base.id, dependent.id}
    assert members(session, base) == {profile.id} and members(session, dependent) == {profile.id}


def test_only_the_given_profiles_are_touched(session: Session) -> None:
    segment = make_segment(session)
    changed, untouched = ProfileFactory(region="Ontario"), ProfileFactory(region="Ontario")

    reevaluate_profiles(session, [changed.id], now=NOW)

    assert members(session, segment) == {changed.id}  # the other waits for the next full refresh
    assert session.scalar(select(SegmentMember.profile_id).where(
        SegmentMember.profile_id == untouched.id)) is None


def test_unusable_rules_and_other_kinds_are_skipped(session: Session) -> None:
    broken = make_segment(session, name="Broken", rule={"field": "gone", "op": "eq", "value": "x"})
    static = make_segment(session, name="List", kind="static", rule=None)
    segment = make_segment(session)
    profile = ProfileFactory(region="Ontario")

    changes = reevaluate_profiles(session, [profile.id], now=NOW + dt.timedelta(days=1))

    assert set(changes) == {segment.id}
    assert members(session, broken) == set() and members(session, static) == set()

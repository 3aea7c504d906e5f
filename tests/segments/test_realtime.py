"""Near-real-time re-evaluation: a service write moves the profile in or out of live segments at once."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg
from sqlalchemy.orm import Session

from crm_segments.models import Segment, SegmentEvent, SegmentMember
from crm_segments.records import KINDS
from crm_segments.segments import live_rules
from crm_segments.segments.compiler import compile_rule
from crm_segments.segments.level_writes import level_writes, write_level
from crm_segments.segments.membership import Diff
from crm_segments.segments.periods import BoundNow
from crm_segments.segments.prebuilt import BY_KEY
from crm_segments.segments.realtime import _level_query, reevaluate_profiles
from crm_segments.segments.refresh import refresh_segment
from crm_segments.segments.rules import parse_rule
from tests.databases import ON_POSTGRESQL
from tests.factories import JobFactory, ProfileFactory, ProfileTagFactory, TagFactory
from tests.records import writes
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

    writes.update(KINDS["profiles"], session=session, id=profile.id, data={"region": "Ontario"})

    assert members(session, segment) == {bystander.id, profile.id}
    assert member_events(session, segment, profile.id) == [("entered", "realtime")]
    session.refresh(segment)
    assert segment.member_count == 2 and segment.version == 1  # realtime keeps the refresh version
    assert members(session, other) == set()

    writes.update(KINDS["profiles"], session=session, id=profile.id, data={"region": "Manitoba"})

    assert members(session, segment) == {bystander.id}
    assert member_events(session, segment, profile.id) == [("entered", "realtime"), ("exited", "realtime")]
    session.refresh(segment)
    assert segment.member_count == 1


def test_a_new_record_enters_a_records_segment(session: Session) -> None:
    segment = make_segment(session, name="Has a job",
                           rule={"records": "jobs", "exists": True,
                                 "where": {"field": "status", "op": "eq", "value": "completed"}})
    profile = ProfileFactory()

    writes.create(KINDS["jobs"], session=session, data={
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


# Every kind of subquery a rule compiles to, each keyed by profile: grouped aggregates, a count that
# holds without records, EXISTS over records and over nested records, RFM scores, tags, membership.
RESTRICTED_RULES: dict[str, dict[str, Any]] = {
    "grouped first date": {"records": "quotes",
                           "first": {"field": "sent_at", "op": "within_last", "value": 90, "unit": "days"}},
    "count that holds at zero": {"records": "jobs", "count": {"op": "lt", "value": 2}},
    "sum": {"records": "jobs", "sum": {"field": "amount", "op": "gte", "value": "100.00"}},
    "exists": {"records": "opportunities", "exists": True},
    "nested records": {"records": "quotes", "exists": True, "where": {
        "records": "jobs", "exists": False,
        "where": {"field": "created_at", "op": "after", "ref": "parent.sent_at"}}},
    "purchases": {"records": "purchases", "exists": True,
                  "where": {"field": "category", "op": "eq", "value": "Solar Panels"}},
    "rfm": {"field": "rfm.recency", "op": "gte", "value": 4},
    "tags": {"tags": ["vip"], "match": "any"},
    "segment": {"segment": "ontario"},
}


def _subqueries_of(sql: str) -> list[str]:
    """Each ``SELECT ...`` nested in ``sql`` that reads rows of profiles (not a segment's id by key)."""
    return [block for block in sql.split("SELECT")[2:] if "FROM crm_segments AS" not in block]


@pytest.mark.parametrize("name", sorted(RESTRICTED_RULES))
def test_realtime_statements_restrict_every_subquery_to_the_changed_profiles(name: str) -> None:
    document = json.dumps(RESTRICTED_RULES[name], sort_keys=True)
    level_query, _ = _level_query(((1, document),), NOW.date())
    level_sql = str(level_query.compile(dialect=postgresql.dialect()))
    update_sql = str(compile_rule(parse_rule(RESTRICTED_RULES[name]), now=NOW, profile_ids=[7, 8])
                     .compile(dialect=postgresql.dialect()))

    # One restriction on the profile and one in each subquery.
    assert level_sql.count("IN (__[POSTCOMPILE_ids])") == 1 + len(_subqueries_of(level_sql))
    # PostgreSQL's statement: the matches part, up to the stored memberships, the same way.
    statement = level_writes(((1, document),), NOW.date(), postgresql_psycopg.dialect())
    matches = statement.sql.split("should AS")[1].split("stored AS")[0]
    ids = f"= ANY (${statement.names.index('ids') + 1}"
    assert matches.count(ids) == 1 + len(_subqueries_of(matches))
    id_lists = re.findall(r"IN \(__\[POSTCOMPILE_(?!name_key)", update_sql)  # tag names aside
    assert len(id_lists) == 1 + len(_subqueries_of(update_sql))


def test_several_changed_profiles_get_grouped_and_ungrouped_rules_right(session: Session) -> None:
    two_jobs = make_segment(session, name="Two completed jobs", rule={
        "records": "jobs", "where": {"field": "status", "op": "eq", "value": "completed"},
        "count": {"op": "gte", "value": 2}})
    at_most_one = make_segment(session, name="At most one job",
                               rule={"records": "jobs", "count": {"op": "lte", "value": 1}})
    busy, idle, bystander = ProfileFactory(), ProfileFactory(), ProfileFactory()
    for n, owner in enumerate([busy, busy, bystander, bystander]):
        writes.create(KINDS["jobs"], session=session, data={
            "external_id": f"J-MANY-{n}", "profile_id": owner.id, "title": "Roof", "status": "completed",
            "amount": "10.00", "finished_at": "2025-02-01T10:00:00+00:00"})
    session.execute(delete(SegmentMember))  # only what the re-evaluation below writes
    session.flush()

    reevaluate_profiles(session, [busy.id, idle.id], now=NOW)

    assert members(session, two_jobs) == {busy.id}  # the bystander waits for the next refresh
    assert members(session, at_most_one) == {idle.id}


@ON_POSTGRESQL  # the level statement is PostgreSQL's
def test_the_level_statement_plans_generically_then_sets_the_mode_back(session: Session,
                                                                      backend: str) -> None:
    segment = make_segment(session)
    profile = ProfileFactory(region="Ontario")
    session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    document = json.dumps(segment.rule, sort_keys=True)

    result = write_level(session, ((segment.id, document),), [profile.id], NOW,
                         live_rules.read(session).digest or "")

    assert result == ({segment.id: Diff(1, 0)}, [])
    assert session.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"


def test_one_statement_writes_members_events_and_counts(session: Session, backend: str) -> None:
    entering = make_segment(session)
    leaving = make_segment(session, name="Quebec", rule={"field": "region", "op": "eq", "value": "Quebec"})
    profile, bystander = ProfileFactory(region="Quebec"), ProfileFactory(region="Quebec")
    refresh_segment(session, entering, now=NOW)
    refresh_segment(session, leaving, now=NOW)
    profile.region = "Ontario"
    session.flush()

    changes = reevaluate_profiles(session, [profile.id], now=NOW)

    assert changes == {entering.id: Diff(1, 0), leaving.id: Diff(0, 1)}
    assert members(session, entering) == {profile.id} and members(session, leaving) == {bystander.id}
    assert member_events(session, entering, profile.id) == [("entered", "realtime")]
    assert member_events(session, leaving, profile.id) == [("exited", "realtime")]
    versions = set(session.scalars(select(SegmentEvent.segment_version).where(
        SegmentEvent.profile_id == profile.id)))
    assert versions == {1}  # the version of the refresh the membership was diffed against
    session.refresh(entering)
    session.refresh(leaving)
    assert (entering.member_count, leaving.member_count) == (1, 1)
    assert reevaluate_profiles(session, [profile.id], now=NOW) == {}  # nothing left to change


def test_rules_changed_since_they_were_read_are_read_again(session: Session) -> None:
    segment = make_segment(session)
    profile = ProfileFactory(region="Quebec")
    assert reevaluate_profiles(session, [profile.id], now=NOW) == {}  # the rules are read (and kept)

    # Changed by a plain UPDATE, and a new live segment: nothing announces either to the product.
    session.execute(update(Segment).where(Segment.id == segment.id).values(
        rule={"field": "region", "op": "eq", "value": "Quebec"}))
    added = make_segment(session, name="Quebec too", rule={"field": "region", "op": "eq", "value": "Quebec"})

    changes = reevaluate_profiles(session, [profile.id], now=NOW)

    assert changes == {segment.id: Diff(1, 0), added.id: Diff(1, 0)}
    assert members(session, segment) == {profile.id} and members(session, added) == {profile.id}


@ON_POSTGRESQL
def test_a_level_statement_by_rules_no_longer_stored_writes_nothing(session: Session, backend: str) -> None:
    segment = make_segment(session)
    profile = ProfileFactory(region="Ontario")
    document = json.dumps(segment.rule, sort_keys=True)
    digest = live_rules.read(session).digest
    assert digest is not None

    assert write_level(session, ((segment.id, document),), [profile.id], NOW, "f" * 32) is None

    assert members(session, segment) == set()
    assert session.scalar(select(SegmentEvent.id).where(SegmentEvent.profile_id == profile.id)) is None
    assert write_level(session, ((segment.id, document),), [profile.id], NOW, digest) == (
        {segment.id: Diff(1, 0)}, [])


# A change is evaluated at the time it happened: the same cut-offs as a full refresh at that instant.
MID_MINUTE = dt.datetime(2025, 3, 1, 12, 0, 30, tzinfo=dt.UTC)
WITHIN_30_DAYS = {"records": "jobs", "exists": True, "where": {"all": [
    {"field": "status", "op": "eq", "value": "completed"},
    {"field": "finished_at", "op": "within_last", "value": 30, "unit": "days"}]}}


def test_a_purchase_completed_now_enters_active_and_new_customers_at_once(session: Session) -> None:
    shipped = [make_segment(session, name=BY_KEY[key].name, rule=BY_KEY[key].build(BY_KEY[key].defaults))
               for key in ("active_customers", "new_customers")]
    recent = make_segment(session, name="Purchased within the last 30 days", rule=WITHIN_30_DAYS)
    profile = ProfileFactory()

    # The service stamps finished_at with the time of the write; the listener runs right after it.
    writes.create(KINDS["jobs"], session=session, data={
        "external_id": "J-NOW-1", "profile_id": profile.id, "title": "Roof", "status": "completed",
        "amount": "120.00"})

    for segment in (*shipped, recent):
        assert members(session, segment) == {profile.id}, segment.name
        assert member_events(session, segment, profile.id) == [("entered", "realtime")]


def test_near_real_time_agrees_with_a_full_refresh_at_the_same_instant(session: Session) -> None:
    just_now = ProfileFactory()  # finished 5 s before the instant: in the same minute
    inside = ProfileFactory()  # 10 s inside the window's start
    outside = ProfileFactory()  # 10 s before the window's start, in the minute after it
    ahead = ProfileFactory()  # finished 10 s after the instant
    window_start = MID_MINUTE - dt.timedelta(days=30)
    for profile, finished in ((just_now, MID_MINUTE - dt.timedelta(seconds=5)),
                              (inside, window_start + dt.timedelta(seconds=10)),
                              (outside, window_start - dt.timedelta(seconds=10)),
                              (ahead, MID_MINUTE + dt.timedelta(seconds=10))):
        JobFactory(profile=profile, status="completed", finished_at=finished)
    vip = TagFactory(name="vip")
    ProfileTagFactory(profile=just_now, tag=vip, added_at=MID_MINUTE - dt.timedelta(seconds=2))
    ProfileTagFactory(profile=outside, tag=vip, added_at=MID_MINUTE - dt.timedelta(days=1, seconds=10))
    cases: list[tuple[dict[str, Any], set[int]]] = [
        (WITHIN_30_DAYS, {just_now.id, inside.id}),
        ({"records": "jobs", "where": {"field": "status", "op": "eq", "value": "completed"},
          "first": {"field": "finished_at", "op": "within_last", "value": 30, "unit": "days"}},
         {just_now.id, inside.id}),
        ({"tags": ["vip"], "added_within": {"value": 1, "unit": "days"}}, {just_now.id}),
    ]

    for n, (rule, expected) in enumerate(cases):
        refreshed = make_segment(session, name=f"rule {n}, refreshed", rule=rule)
        refresh_segment(session, refreshed, now=MID_MINUTE)
        live = make_segment(session, name=f"rule {n}, near-real-time", rule=rule)
        reevaluate_profiles(session, [just_now.id, inside.id, outside.id, ahead.id], now=MID_MINUTE)

        assert members(session, live) == members(session, refreshed) == expected, rule


def test_the_cached_statement_evaluates_each_change_at_its_own_instant(session: Session) -> None:
    segment = make_segment(session, name="Purchased within 30 days", rule=WITHIN_30_DAYS)
    profile = ProfileFactory()
    JobFactory(profile=profile, status="completed", finished_at=MID_MINUTE + dt.timedelta(seconds=10))
    reevaluate_profiles(session, [profile.id], now=MID_MINUTE)  # the statement of the day is built
    assert members(session, segment) == set()  # the purchase is not finished yet at that instant
    built = _level_query.cache_info().misses

    reevaluate_profiles(session, [profile.id], now=MID_MINUTE + dt.timedelta(seconds=15))

    assert members(session, segment) == {profile.id}
    assert _level_query.cache_info().misses == built  # same statement, later instant


def test_time_parameters_belong_to_the_day_the_statement_was_built_for() -> None:
    bound = BoundNow(MID_MINUTE.date())
    bound.instant(-30, "days")
    assert bound.values(MID_MINUTE) == {"rule_now_minus_30_days": MID_MINUTE - dt.timedelta(days=30)}
    with pytest.raises(ValueError, match="2025-03-01"):
        bound.values(MID_MINUTE + dt.timedelta(days=1))

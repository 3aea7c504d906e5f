"""Auto-tag rules for changed profiles are evaluated at the time of the change, as a full run would be."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from crm_segments.records import KINDS
from crm_segments.schemas.auto_tag_rules import AutoTagRuleIn
from crm_segments.tagging import auto, realtime
from crm_segments.tagging.rules import create_rule
from tests.factories import JobFactory, ProfileFactory
from tests.records import writes

from .helpers import tagged_ids

MID_MINUTE = dt.datetime(2025, 6, 1, 12, 0, 30, tzinfo=dt.UTC)
PURCHASED_WITHIN_30_DAYS = {"records": "jobs", "exists": True, "where": {"all": [
    {"field": "status", "op": "eq", "value": "completed"},
    {"field": "finished_at", "op": "within_last", "value": 30, "unit": "days"}]}}


def test_a_purchase_completed_now_tags_the_profile_at_once(session: Session) -> None:
    rule = create_rule(session=session, data=AutoTagRuleIn(
        name="Recent buyer", condition=PURCHASED_WITHIN_30_DAYS,
        tag="recent buyer", mode="live"))
    profile = ProfileFactory()

    writes.create(KINDS["jobs"], session=session, data={
        "external_id": "J-TAG-NOW", "profile_id": profile.id, "title": "Roof", "status": "completed",
        "amount": "80.00"})

    assert tagged_ids(session, rule.tag) == {profile.id}


def test_changed_profiles_get_the_tags_a_full_run_at_the_same_instant_gives(session: Session) -> None:
    by_change = create_rule(session=session, data=AutoTagRuleIn(
        name="By change", condition=PURCHASED_WITHIN_30_DAYS,
        tag="by change", mode="live"))
    just_now, inside, outside = ProfileFactory.create_batch(3)
    window_start = MID_MINUTE - dt.timedelta(days=30)
    for profile, finished in ((just_now, MID_MINUTE - dt.timedelta(seconds=5)),
                              (inside, window_start + dt.timedelta(seconds=10)),
                              (outside, window_start - dt.timedelta(seconds=10))):
        JobFactory(profile=profile, status="completed", finished_at=finished)

    realtime.reevaluate_profiles(session, [just_now.id, inside.id, outside.id], now=MID_MINUTE)
    by_run = create_rule(session=session, data=AutoTagRuleIn(
        name="By full run", condition=PURCHASED_WITHIN_30_DAYS,
        tag="by full run", mode="live"))
    auto.run_rule(session=session, rule=by_run, now=MID_MINUTE)

    assert tagged_ids(session, by_change.tag) == tagged_ids(session, by_run.tag) == {just_now.id, inside.id}

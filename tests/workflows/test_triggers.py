"""Tag-added and date-field triggers, enrolling existing members on activation, campaign ends and
goals met after the last step."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.tagging.manual import add_tag
from crm_segments.workflows.editing import create_workflow
from crm_segments.workflows.engine import advance_due
from crm_segments.workflows.lifecycle import set_status
from crm_segments.workflows.triggers import enroll_from_events
from tests.factories import JobFactory, ProfileFactory, QuoteFactory, TagFactory

from .helpers import T0, active_workflow, definition, enrollments, enter, make_segment

pytestmark = pytest.mark.usefixtures("backend")
MINUTE, DAY = dt.timedelta(minutes=1), dt.timedelta(days=1)
ONE_STEP = [{"key": "tag", "type": "add_tag", "tag": "done"}]


def test_tag_added_on_a_profile_or_a_quote(session: Session) -> None:
    TagFactory(name="VIP")
    on_profile = active_workflow(session, definition(trigger={"type": "tag_added", "tag": "vip"},
                                                     steps=ONE_STEP))
    quote_trigger = {"type": "tag_added", "tag": "VIP", "entity": "quote"}
    on_quote = active_workflow(session, definition(name="Quotes", steps=ONE_STEP, trigger=quote_trigger))
    profile = ProfileFactory()
    quote = QuoteFactory(profile=profile)
    add_tag(session=session, entity_type="profile", entity_id=profile.id, tag_name="VIP", now=T0 + MINUTE)
    add_tag(session=session, entity_type="quote", entity_id=quote.id, tag_name="VIP", now=T0 + MINUTE)
    assert enroll_from_events(session, now=T0 + 2 * MINUTE) == 2
    [by_profile] = enrollments(session, on_profile)
    [by_quote] = enrollments(session, on_quote)
    assert (by_profile.profile_id, by_profile.trigger_record_type) == (profile.id, None)
    assert (by_quote.profile_id, by_quote.trigger_record_type, by_quote.trigger_record_id) == (
        profile.id, "quote", quote.id)


def test_date_field_fires_days_before_a_quote_expires(session: Session) -> None:
    trigger = {"type": "date_field", "record": "quote", "field": "expires_at", "offset_days": -3,
               "statuses": ["sent"]}
    workflow = active_workflow(session, definition(trigger=trigger, steps=ONE_STEP,
                                                   reentry={"policy": "every_time"}))
    due = QuoteFactory(status="sent", expires_at=T0 + 3 * DAY + 30 * MINUTE)
    QuoteFactory(status="accepted", expires_at=T0 + 3 * DAY + 30 * MINUTE)  # not sent: left out
    later = QuoteFactory(status="sent", expires_at=T0 + 10 * DAY)
    assert enroll_from_events(session, now=T0 + 20 * MINUTE) == 0  # 3 days before is still 10 min away
    assert enroll_from_events(session, now=T0 + 40 * MINUTE) == 1
    assert enroll_from_events(session, now=T0 + 50 * MINUTE) == 0  # seen once
    [enrollment] = enrollments(session, workflow)
    assert (enrollment.trigger_record_type, enrollment.trigger_record_id) == ("quote", due.id)
    assert enroll_from_events(session, now=T0 + 7 * DAY + MINUTE) == 1
    assert enrollments(session, workflow)[-1].trigger_record_id == later.id


def test_turning_on_can_enroll_everyone_already_in_the_segment(session: Session) -> None:
    segment = make_segment(session)
    members = ProfileFactory.create_batch(3)
    enter(session, segment, *members, at=T0 - DAY)
    workflow = create_workflow(session=session,
                               data=definition(segment, steps=ONE_STEP, enroll_existing=True))
    set_status(session=session, workflow_id=workflow.id, status="active", now=T0)
    assert sorted(e.profile_id for e in enrollments(session, workflow)) == sorted(p.id for p in members)
    set_status(session=session, workflow_id=workflow.id, status="paused", now=T0 + DAY)
    set_status(session=session, workflow_id=workflow.id, status="active", now=T0 + 2 * DAY)  # resuming: no
    assert len(enrollments(session, workflow)) == 3


def test_campaign_end_exits_and_late_goals_count(session: Session,
                                                 session_factory: sessionmaker[Session]) -> None:
    segment = make_segment(session)
    steps = [{"key": "wait", "type": "wait", "duration": {"days": 5}}, *ONE_STEP]
    campaign = active_workflow(session, definition(segment, name="Campaign", steps=steps,
                                                   schedule={"ends_at": (T0 + 2 * DAY).isoformat()}))
    quick = active_workflow(session, definition(segment, name="Quick", steps=ONE_STEP,
                                                goal={"since_enrollment": [{"record": "job"}]}))
    profile = ProfileFactory()
    enter(session, segment, profile, at=T0 + MINUTE)
    enroll_from_events(session, now=T0 + MINUTE)
    advance_due(session_factory, now=T0 + 2 * MINUTE)
    [done] = enrollments(session, quick)
    assert done.status == "completed" and done.goal_met_at is None

    JobFactory(profile=profile, created_at=T0 + DAY)
    advance_due(session_factory, now=T0 + 3 * DAY)
    [ended] = enrollments(session, campaign)
    assert (ended.status, ended.exit_reason) == ("exited", "campaign ended")
    [done] = enrollments(session, quick)
    assert (done.status, done.goal_met_at) == ("completed", T0 + 3 * DAY)  # a conversion after the end

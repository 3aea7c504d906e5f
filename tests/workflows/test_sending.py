"""Send steps queue exactly one message per enrollment and step: through pauses, live edits, goals,
branches and repeated runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.models import Message, Profile, Workflow
from crm_segments.workflows.editing import update_workflow
from crm_segments.workflows.engine import advance_due
from crm_segments.workflows.lifecycle import set_status
from crm_segments.workflows.triggers import enroll_from_events
from tests.factories import JobFactory, ProfileFactory, UserFactory

from .helpers import (
    EMAIL_TEMPLATE,
    SMS_TEMPLATE,
    T0,
    active_workflow,
    definition,
    enrollments,
    enter,
    make_segment,
)

pytestmark = pytest.mark.usefixtures("backend")
MINUTE, DAY = dt.timedelta(minutes=1), dt.timedelta(days=1)
STEPS = [
    {"key": "first_email", "type": "send_email", "template": EMAIL_TEMPLATE},
    {"key": "pause", "type": "wait", "duration": {"days": 2}},
    {"key": "reminder", "type": "send_sms", "template": SMS_TEMPLATE},
]


def _messages(session: Session, workflow: Workflow) -> list[tuple[str | None, str]]:
    session.expire_all()
    rows = session.execute(select(Message.step_key, Message.dedupe_key)
                           .where(Message.workflow_id == workflow.id).order_by(Message.id))
    return [(step, key) for step, key in rows]


def _start(session: Session, factory: sessionmaker[Session], *profiles: Profile,
           **overrides: Any) -> Workflow:
    segment = make_segment(session)
    workflow = active_workflow(session, definition(segment, **{"steps": STEPS, **overrides}))
    enter(session, segment, *(profiles or (ProfileFactory(),)), at=T0 + MINUTE)
    enroll_from_events(session, now=T0 + MINUTE)
    advance_due(factory, now=T0 + 2 * MINUTE)
    return workflow


def test_one_message_per_step_with_its_dedupe_key(session: Session,
                                                  session_factory: sessionmaker[Session]) -> None:
    workflow = _start(session, session_factory)
    [enrollment] = enrollments(session, workflow)
    assert _messages(session, workflow) == [("first_email", f"enrollment:{enrollment.id}:step:first_email")]
    for _ in range(3):
        advance_due(session_factory, now=T0 + 3 * DAY)
    assert [step for step, _ in _messages(session, workflow)] == ["first_email", "reminder"]
    message = session.scalars(select(Message).where(Message.step_key == "reminder")).one()
    assert (message.channel, message.enrollment_id) == ("sms", enrollment.id)
    assert message.template_key == SMS_TEMPLATE


def test_pause_and_resume_send_nothing_twice(session: Session,
                                             session_factory: sessionmaker[Session]) -> None:
    workflow = _start(session, session_factory)
    set_status(session=session, workflow_id=workflow.id, status="paused", now=T0 + DAY)
    advance_due(session_factory, now=T0 + 3 * DAY)
    assert [step for step, _ in _messages(session, workflow)] == ["first_email"]
    set_status(session=session, workflow_id=workflow.id, status="active", now=T0 + 4 * DAY)
    advance_due(session_factory, now=T0 + 4 * DAY)
    advance_due(session_factory, now=T0 + 5 * DAY)
    assert [step for step, _ in _messages(session, workflow)] == ["first_email", "reminder"]


def test_live_edit_never_sends_a_step_twice(session: Session, session_factory: sessionmaker[Session]) -> None:
    workflow = _start(session, session_factory)
    moved = [STEPS[1], STEPS[2], STEPS[0], {"type": "send_email", "template": EMAIL_TEMPLATE}]
    update_workflow(session=session, workflow_id=workflow.id, data=definition(steps=moved))
    advance_due(session_factory, now=T0 + 3 * DAY)
    assert [step for step, _ in _messages(session, workflow)] == ["first_email", "reminder", "s1"]


def test_goal_met_stops_messages_and_skips_unsent_ones(session: Session,
                                                      session_factory: sessionmaker[Session]) -> None:
    profile = ProfileFactory()
    goal = {"since_enrollment": [{"record": "job"}]}
    workflow = _start(session, session_factory, profile, goal=goal)
    first = session.scalars(select(Message).where(Message.workflow_id == workflow.id)).one()
    assert first.status == "pending"  # not handed to a provider yet (e.g. waiting for quiet hours to end)
    JobFactory(profile=profile, created_at=T0 + DAY)
    advance_due(session_factory, now=T0 + 3 * DAY)
    [enrollment] = enrollments(session, workflow)
    assert enrollment.status == "goal_met"
    assert [step for step, _ in _messages(session, workflow)] == ["first_email"]
    session.refresh(first)
    assert (first.status, first.status_reason) == ("skipped", "enrollment ended: goal met")


def test_branch_on_a_rule(session: Session, session_factory: sessionmaker[Session]) -> None:
    north, south = ProfileFactory(region="North"), ProfileFactory(region="South")
    steps = [
        {"key": "where", "type": "branch", "rule": {"field": "region", "op": "eq", "value": "North"},
         "if_true": "north_email"},
        {"key": "south_email", "type": "send_email", "template": EMAIL_TEMPLATE},
        {"key": "done", "type": "exit", "reason": "south done"},
        {"key": "north_email", "type": "send_email", "template": EMAIL_TEMPLATE},
    ]
    workflow = _start(session, session_factory, north, south, steps=steps)
    rows = session.execute(select(Message.profile_id, Message.step_key)
                           .where(Message.workflow_id == workflow.id))
    sent = {profile_id: step for profile_id, step in rows}
    assert sent == {north.id: "north_email", south.id: "south_email"}
    ended = {e.profile_id: (e.status, e.exit_reason) for e in enrollments(session, workflow)}
    assert ended == {north.id: ("completed", None), south.id: ("exited", "south done")}


def test_notify_owner_emails_the_owner(session: Session, session_factory: sessionmaker[Session]) -> None:
    owner = UserFactory()
    with_owner, without = ProfileFactory(owner_id=owner.id), ProfileFactory(owner_id=None)
    steps = [{"key": "tell", "type": "notify_owner", "template": "transactional/owner_alert"}]
    workflow = _start(session, session_factory, with_owner, without, steps=steps)
    message = session.scalars(select(Message).where(Message.workflow_id == workflow.id)).one()
    assert (message.profile_id, message.recipient_user_id, message.category) == (
        with_owner.id, owner.id, "transactional")
    assert all(e.status == "completed" for e in enrollments(session, workflow))


def test_batch_written_messages_match_enqueue_message(session: Session,
                                                     session_factory: sessionmaker[Session]) -> None:
    from crm_segments.messages.outbox import enqueue_message

    workflow = _start(session, session_factory)
    [enrollment] = enrollments(session, workflow)
    ours = session.scalars(select(Message).where(Message.workflow_id == workflow.id)).one()
    theirs = enqueue_message(session, dedupe_key="compare", profile_id=enrollment.profile_id,
                             channel="email", template=EMAIL_TEMPLATE, context={}, category="marketing",
                             workflow_id=workflow.id, enrollment_id=enrollment.id, step_key="first_email",
                             now=T0 + 2 * MINUTE)
    columns = [c.key for c in Message.__table__.columns if c.key not in ("id", "dedupe_key")]
    assert {c: getattr(ours, c) for c in columns} == {c: getattr(theirs, c) for c in columns}

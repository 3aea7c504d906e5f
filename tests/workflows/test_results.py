"""Results per workflow and per segment, from message rows and enrollments."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from crm_segments.models import Enrollment, Profile, Workflow
from crm_segments.models.messaging import Message
from crm_segments.workflows.editing import create_workflow
from crm_segments.workflows.results import Results, StepCounts, segment_results, step_counts, workflow_results
from tests.factories import ProfileFactory, UserFactory

from .helpers import EMAIL_TEMPLATE, T0, definition, make_segment

pytestmark = pytest.mark.usefixtures("backend")
DAY = dt.timedelta(days=1)
_keys = itertools.count()


def _enrollment(session: Session, workflow: Workflow, profile: Profile, **values: Any) -> Enrollment:
    enrollment = Enrollment(workflow_id=workflow.id, profile_id=profile.id, trigger_key=f"k{next(_keys)}",
                            enrolled_at=T0, **{"status": "completed", **values})
    session.add(enrollment)
    session.flush()
    return enrollment


def _message(session: Session, enrollment: Enrollment, **values: Any) -> Message:
    message = Message(dedupe_key=f"m{next(_keys)}", workflow_id=enrollment.workflow_id,
                      enrollment_id=enrollment.id, profile_id=enrollment.profile_id, channel="email",
                      category="marketing", template_key=EMAIL_TEMPLATE, **values)
    session.add(message)
    session.flush()
    return message


def test_counts_and_conversions(session: Session) -> None:
    segment = make_segment(session)
    steps = [{"key": "hello", "type": "send_email", "template": EMAIL_TEMPLATE}]
    workflow = create_workflow(session=session, data=definition(
        segment, steps=steps, goal={"since_enrollment": [{"record": "job"}], "conversion_window_days": 7}))
    other = create_workflow(session=session, data=definition(segment, name="Other", steps=steps))
    owner = UserFactory()
    a, b, c, d = ProfileFactory.create_batch(4)

    converted = _enrollment(session, workflow, a, status="goal_met", goal_met_at=T0 + 3 * DAY)
    _message(session, converted, status="clicked", sent_at=T0, delivered_at=T0, opened_at=T0, clicked_at=T0)
    _message(session, converted, status="sent", sent_at=T0, recipient_user_id=owner.id)  # to the owner
    too_late = _enrollment(session, workflow, b, status="goal_met", goal_met_at=T0 + 10 * DAY)
    _message(session, too_late, status="bounced", sent_at=T0)
    never_sent = _enrollment(session, workflow, c, status="goal_met", goal_met_at=T0 + DAY)
    _message(session, never_sent, status="suppressed")
    waiting = _enrollment(session, workflow, d, status="active")
    _message(session, waiting, status="unsubscribed", sent_at=T0, delivered_at=T0)
    _message(session, _enrollment(session, other, a), status="delivered", sent_at=T0, delivered_at=T0)

    results = workflow_results(session=session, workflow_id=workflow.id)
    assert results == Results(enrolled=4, active=1, sent=3, delivered=2, opened=1, clicked=1, bounced=1,
                              unsubscribed=1, converted=1)
    assert results.rate("converted") == 0.25
    assert workflow_results(session=session, workflow_id=other.id).sent == 1

    [by_segment] = segment_results(session=session)
    assert (by_segment.segment_id, by_segment.workflows) == (segment.id, 2)
    assert (by_segment.results.enrolled, by_segment.results.sent, by_segment.results.converted) == (5, 4, 1)
    assert workflow_results(session=session, workflow_id=workflow.id, since=T0 + DAY) == Results()


def test_counts_per_step_in_one_statement(session: Session) -> None:
    segment = make_segment(session)
    steps = [{"key": "hello", "type": "send_email", "template": EMAIL_TEMPLATE},
             {"key": "pause", "type": "wait", "duration": {"days": 2}},
             {"key": "again", "type": "send_email", "template": EMAIL_TEMPLATE}]
    workflow = create_workflow(session=session, data=definition(
        segment, steps=steps, goal={"since_enrollment": [{"record": "job"}], "conversion_window_days": 7}))
    a, b, c = ProfileFactory.create_batch(3)
    converted = _enrollment(session, workflow, a, status="goal_met", goal_met_at=T0 + 3 * DAY)
    _message(session, converted, step_key="hello", status="sent", sent_at=T0)
    _message(session, converted, step_key="again", status="sent", sent_at=T0 + 5 * DAY)  # after the goal
    at_pause = _enrollment(session, workflow, b, status="active", current_step_key="again")
    _message(session, at_pause, step_key="hello", status="sent", sent_at=T0)
    _enrollment(session, workflow, c, status="active", current_step_key="hello")

    session.flush()
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        counts = step_counts(session=session, workflow_id=workflow.id)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(statements) == 1
    assert counts == {"hello": StepCounts(waiting=1, sent=2, converted=1),
                      "again": StepCounts(waiting=1, sent=1, converted=0)}

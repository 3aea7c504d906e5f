"""Dry run: who would be enrolled now and what each would get first; nothing is written."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session

from crm_segments.models import Enrollment, TagEvent
from crm_segments.workflows.dry_run import dry_run
from crm_segments.workflows.editing import create_workflow
from tests.factories import ProfileFactory

from .helpers import EMAIL_TEMPLATE, T0, count, definition, enter, make_segment

pytestmark = pytest.mark.usefixtures("backend")


def test_dry_run_lists_candidates_and_their_first_message(session: Session) -> None:
    segment = make_segment(session)
    steps = [
        {"key": "tag", "type": "add_tag", "tag": "warm"},
        {"key": "monday", "type": "wait", "until": {"weekdays": ["mon"], "time": "09:00"}},
        {"key": "hello", "type": "send_email", "template": EMAIL_TEMPLATE},
    ]
    workflow = create_workflow(session=session, data=definition(segment, steps=steps))
    reachable = ProfileFactory(email="a@example.com", email_consent=True, time_zone="Europe/Paris")
    no_consent = ProfileFactory(email="b@example.com", email_consent=False)
    already = ProfileFactory(email="c@example.com", email_consent=True)
    enter(session, segment, reachable, no_consent, already, at=T0 - dt.timedelta(days=1))
    session.add(Enrollment(workflow_id=workflow.id, profile_id=already.id, trigger_key="earlier",
                           status="completed", enrolled_at=T0 - dt.timedelta(days=300)))
    session.flush()

    result = dry_run(session=session, workflow_id=workflow.id, now=T0 + dt.timedelta(hours=1))

    assert result.total == 2  # the policy is "once": the one enrolled before is left out
    rows = {row.profile.id: row for row in result.rows}
    assert set(rows) == {reachable.id, no_consent.id}
    first = rows[reachable.id]
    assert (first.action, first.step_key) == (f"Email {EMAIL_TEMPLATE}", "hello")
    assert first.at == dt.datetime(2024, 6, 10, 7, 0, tzinfo=dt.UTC)  # next Monday 09:00 in Paris
    assert first.notes == ["adds the tag 'warm' first"]
    assert "no email consent: not sent" in rows[no_consent.id].notes
    assert count(session, Enrollment, Enrollment.workflow_id == workflow.id) == 1
    assert count(session, TagEvent) == 0


def test_dry_run_of_an_exit_first_workflow(session: Session) -> None:
    segment = make_segment(session)
    workflow = create_workflow(session=session, data=definition(segment, steps=[{"type": "exit"}]))
    enter(session, segment, ProfileFactory(), at=T0)
    result = dry_run(session=session, workflow_id=workflow.id, now=T0)
    assert [(r.action, r.step_key) for r in result.rows] == [("Exit", "s1")]

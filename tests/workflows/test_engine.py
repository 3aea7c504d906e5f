"""Running enrollments: live edits, pause and resume, goals, exits, waits in the profile's zone."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.models import TagEvent
from crm_segments.workflows.editing import update_workflow
from crm_segments.workflows.engine import advance_due
from crm_segments.workflows.lifecycle import set_status
from crm_segments.workflows.triggers import enroll_from_events
from tests.factories import JobFactory, ProfileFactory

from .helpers import (
    T0,
    active_workflow,
    count,
    definition,
    enrollments,
    enter,
    leave,
    make_segment,
    steps_run,
)

pytestmark = pytest.mark.usefixtures("backend")

MINUTE = dt.timedelta(minutes=1)
DAY = dt.timedelta(days=1)


def _tag_events(session: Session, name: str) -> int:
    return count(session, TagEvent, TagEvent.tag_name == name, TagEvent.action == "added")


def _start(session: Session, factory: sessionmaker[Session], **overrides: object) -> tuple[object, object]:
    segment = make_segment(session)
    workflow = active_workflow(session, definition(segment, **overrides))
    profile = ProfileFactory()
    enter(session, segment, profile, at=T0 + MINUTE)
    enroll_from_events(session, now=T0 + MINUTE)
    advance_due(factory, now=T0 + 2 * MINUTE)
    return workflow, profile


def test_steps_run_in_order_and_wait(session: Session, session_factory: sessionmaker[Session]) -> None:
    workflow, _ = _start(session, session_factory)
    [enrollment] = enrollments(session, workflow)
    assert steps_run(session, enrollment) == ["tag_one", "pause"]
    assert enrollment.current_step_key == "tag_two"
    assert enrollment.next_run_at == T0 + 2 * MINUTE + 2 * DAY
    advance_due(session_factory, now=T0 + DAY)  # not due yet
    assert steps_run(session, enrollment) == ["tag_one", "pause"]
    advance_due(session_factory, now=T0 + 3 * DAY)
    [enrollment] = enrollments(session, workflow)
    assert steps_run(session, enrollment) == ["tag_one", "pause", "tag_two"]
    assert enrollment.status == "completed" and enrollment.exited_at == T0 + 3 * DAY


def test_live_edit_never_runs_a_step_twice(session: Session, session_factory: sessionmaker[Session]) -> None:
    workflow, _ = _start(session, session_factory)
    edited = definition(steps=[
        {"key": "pause", "type": "wait", "duration": {"days": 2}},
        {"key": "tag_two", "type": "add_tag", "tag": "reminded"},
        {"key": "tag_one", "type": "add_tag", "tag": "followed up"},  # already ran: moved after the wait
        {"type": "add_tag", "tag": "third"},  # new: gets a fresh key
    ])
    update_workflow(session=session, workflow_id=workflow.id, data=edited)
    assert [s["key"] for s in workflow.steps] == ["pause", "tag_two", "tag_one", "s1"]
    advance_due(session_factory, now=T0 + 3 * DAY)
    [enrollment] = enrollments(session, workflow)
    assert steps_run(session, enrollment) == ["tag_one", "pause", "tag_two", "s1"]
    assert _tag_events(session, "followed up") == 1
    assert enrollment.status == "completed"


def test_removing_the_step_an_enrollment_waits_for_moves_it_on(
        session: Session, session_factory: sessionmaker[Session]) -> None:
    workflow, _ = _start(session, session_factory)
    edited = definition(steps=[
        {"key": "tag_one", "type": "add_tag", "tag": "followed up"},
        {"key": "pause", "type": "wait", "duration": {"days": 2}},
        {"key": "last", "type": "add_tag", "tag": "last"},
    ])
    update_workflow(session=session, workflow_id=workflow.id, data=edited)
    [enrollment] = enrollments(session, workflow)
    assert enrollment.current_step_key == "last"


def test_new_steps_never_reuse_a_key(session: Session) -> None:
    segment = make_segment(session)
    steps = [{"type": "add_tag", "tag": "a"}, {"type": "add_tag", "tag": "b"}]
    workflow = active_workflow(session, definition(segment, steps=steps))
    assert [s["key"] for s in workflow.steps] == ["s1", "s2"]
    update_workflow(session=session, workflow_id=workflow.id,
                    data=definition(segment, steps=[{"key": "s1", "type": "add_tag", "tag": "a"},
                                                    {"type": "add_tag", "tag": "c"}]))
    assert [s["key"] for s in workflow.steps] == ["s1", "s3"]
    assert workflow.version == 2


def test_pause_and_resume_run_nothing_twice(session: Session, session_factory: sessionmaker[Session]) -> None:
    workflow, _ = _start(session, session_factory)
    set_status(session=session, workflow_id=workflow.id, status="paused", now=T0 + DAY)
    advance_due(session_factory, now=T0 + 3 * DAY)  # the wait is over, but the workflow is paused
    [enrollment] = enrollments(session, workflow)
    assert steps_run(session, enrollment) == ["tag_one", "pause"]
    set_status(session=session, workflow_id=workflow.id, status="active", now=T0 + 4 * DAY)
    advance_due(session_factory, now=T0 + 4 * DAY)
    advance_due(session_factory, now=T0 + 5 * DAY)
    [enrollment] = enrollments(session, workflow)
    assert steps_run(session, enrollment) == ["tag_one", "pause", "tag_two"]
    assert (_tag_events(session, "followed up"), _tag_events(session, "reminded")) == (1, 1)


def test_goal_met_exits_at_once(session: Session, session_factory: sessionmaker[Session]) -> None:
    goal = {"since_enrollment": [{"record": "job", "field": "created_at"}]}
    workflow, profile = _start(session, session_factory, goal=goal)
    JobFactory(profile=profile, created_at=T0 - DAY)  # before enrollment: does not count
    advance_due(session_factory, now=T0 + DAY)
    JobFactory(profile=profile, created_at=T0 + DAY)
    advance_due(session_factory, now=T0 + 3 * DAY)
    [enrollment] = enrollments(session, workflow)
    assert (enrollment.status, enrollment.goal_met_at) == ("goal_met", T0 + 3 * DAY)
    assert steps_run(session, enrollment) == ["tag_one", "pause"]
    assert _tag_events(session, "reminded") == 0


def test_leaving_the_segment_exits_when_the_workflow_says_so(
        session: Session, session_factory: sessionmaker[Session]) -> None:
    workflow, profile = _start(session, session_factory, exit_on_segment_exit=True)
    leave(session, workflow_segment(session, workflow), profile, at=T0 + DAY)
    advance_due(session_factory, now=T0 + 3 * DAY)
    [enrollment] = enrollments(session, workflow)
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "left the trigger segment")
    assert _tag_events(session, "reminded") == 0


def workflow_segment(session: Session, workflow: object) -> object:
    from crm_segments.models import Segment

    return session.get(Segment, workflow.trigger_segment_id)  # type: ignore[attr-defined]


def test_wait_until_weekday_and_time_in_the_profiles_zone(
        session: Session, session_factory: sessionmaker[Session]) -> None:
    segment = make_segment(session)
    steps = [{"key": "monday", "type": "wait", "until": {"weekdays": ["mon"], "time": "09:00"}},
             {"key": "tag", "type": "add_tag", "tag": "monday"}]
    workflow = active_workflow(session, definition(segment, steps=steps))
    new_york, tokyo = ProfileFactory(time_zone="America/New_York"), ProfileFactory(time_zone="Asia/Tokyo")
    saturday = T0 - 2 * DAY  # Saturday 1 June 2024, 09:00 UTC
    workflow.activated_at = workflow.events_checked_at = saturday - MINUTE
    enter(session, segment, new_york, tokyo, at=saturday)
    enroll_from_events(session, now=saturday)
    advance_due(session_factory, now=saturday)
    due = {e.profile_id: e.next_run_at for e in enrollments(session, workflow)}
    assert due[new_york.id] == dt.datetime(2024, 6, 3, 13, 0, tzinfo=dt.UTC)  # 09:00 EDT
    assert due[tokyo.id] == dt.datetime(2024, 6, 3, 0, 0, tzinfo=dt.UTC)  # 09:00 JST


def test_exit_step_and_archive(session: Session, session_factory: sessionmaker[Session]) -> None:
    steps = [{"key": "bye", "type": "exit", "reason": "not needed"},
             {"key": "t", "type": "add_tag", "tag": "x"}]
    workflow, _ = _start(session, session_factory, steps=steps)
    [enrollment] = enrollments(session, workflow)
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "not needed")
    set_status(session=session, workflow_id=workflow.id, status="archived", now=T0 + DAY)
    assert workflow.status == "archived"


def test_one_failing_enrollment_does_not_stop_the_batch(
        session: Session, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    from crm_segments.workflows import actions

    segment = make_segment(session)
    workflow = active_workflow(session, definition(segment))
    unlucky, fine = ProfileFactory(), ProfileFactory()
    add_tag = actions.ACTIONS["add_tag"]

    def flaky(batch: object, wf: object, enrollment: object, step: dict[str, object]) -> object:
        if enrollment.profile_id == unlucky.id:  # type: ignore[attr-defined]
            raise RuntimeError("provider of tags is down")
        return add_tag(batch, wf, enrollment, step)  # type: ignore[arg-type]

    monkeypatch.setitem(actions.ACTIONS, "add_tag", flaky)
    enter(session, segment, unlucky, fine, at=T0 + MINUTE)
    enroll_from_events(session, now=T0 + MINUTE)
    advance_due(session_factory, now=T0 + 2 * MINUTE)
    by_profile = {e.profile_id: e for e in enrollments(session, workflow)}
    assert steps_run(session, by_profile[fine.id]) == ["tag_one", "pause"]
    failed = by_profile[unlucky.id]
    assert steps_run(session, failed) == []
    assert (failed.attempts, failed.status) == (1, "active")
    assert failed.last_error == "RuntimeError: provider of tags is down"
    assert failed.next_run_at == T0 + 3 * MINUTE  # retried after a minute, then with backoff

    monkeypatch.setitem(actions.ACTIONS, "add_tag", add_tag)
    advance_due(session_factory, now=T0 + 3 * MINUTE)
    retried = {e.profile_id: e for e in enrollments(session, workflow)}[unlucky.id]
    assert steps_run(session, retried) == ["tag_one", "pause"]
    assert (retried.attempts, retried.last_error) == (0, None)


def test_tag_names_are_checked_when_saving(session: Session) -> None:
    from crm_segments.kernel.errors import ValidationFailed

    segment = make_segment(session)
    steps = [{"key": "tag", "type": "add_tag", "tag": "bad<tag>"}]
    with pytest.raises(ValidationFailed) as failed:
        active_workflow(session, definition(segment, steps=steps))
    assert [e.field for e in failed.value.errors] == ["steps[0].tag"]

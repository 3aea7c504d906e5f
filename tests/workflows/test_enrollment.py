"""Enrollment from segment entries: re-entry policies, idempotence, and the database's own guarantee
of one active enrollment per profile and workflow."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.models import Enrollment
from crm_segments.workflows.engine import advance_due
from crm_segments.workflows.triggers import enroll_from_events
from tests.factories import ProfileFactory

from .helpers import T0, active_workflow, definition, enrollments, enter, make_segment

pytestmark = pytest.mark.usefixtures("backend")

MINUTE = dt.timedelta(minutes=1)
DAY = dt.timedelta(days=1)
ONE_STEP = [{"key": "tag", "type": "add_tag", "tag": "welcomed"}]


def _workflow(session: Session, policy: dict[str, Any]) -> Any:
    segment = make_segment(session)
    return segment, active_workflow(session, definition(segment, steps=ONE_STEP, reentry=policy))


def _cycle(session: Session, factory: sessionmaker[Session], at: dt.datetime) -> int:
    """Enroll from events at ``at`` and run every due step (the workflow has one, so all complete)."""
    enrolled = enroll_from_events(session, now=at)
    session.flush()
    advance_due(factory, now=at)
    return enrolled


def test_entry_enrolls_once_and_reading_events_again_changes_nothing(
        session: Session, session_factory: sessionmaker[Session]) -> None:
    segment, workflow = _workflow(session, {"policy": "every_time"})
    profile = ProfileFactory()
    enter(session, segment, profile, at=T0 + MINUTE)

    assert enroll_from_events(session, now=T0 + 2 * MINUTE) == 1
    assert enroll_from_events(session, now=T0 + 3 * MINUTE) == 0  # the same event, seen again
    [enrollment] = enrollments(session, workflow)
    assert (enrollment.profile_id, enrollment.status) == (profile.id, "active")
    assert enrollment.current_step_key == "tag"
    assert enrollment.trigger_key.startswith("segment_event:")


def test_entries_before_activation_do_not_enroll(session: Session) -> None:
    segment, workflow = _workflow(session, {"policy": "every_time"})
    enter(session, segment, ProfileFactory(), at=T0 - MINUTE)
    assert enroll_from_events(session, now=T0 + MINUTE) == 0


@pytest.mark.parametrize(("policy", "expected"), [
    ({"policy": "once"}, [1, 0, 0]),
    ({"policy": "once_per_days", "days": 30}, [1, 0, 1]),
    ({"policy": "every_time"}, [1, 1, 1]),
])
def test_reentry_policy(session: Session, session_factory: sessionmaker[Session],
                        policy: dict[str, Any], expected: list[int]) -> None:
    segment, workflow = _workflow(session, policy)
    profile = ProfileFactory()
    got = []
    for at in (T0 + MINUTE, T0 + 2 * DAY, T0 + 40 * DAY):  # enters, re-enters 2 days and 40 days later
        enter(session, segment, profile, at=at)
        got.append(_cycle(session, session_factory, at + MINUTE))
    assert got == expected
    assert all(e.status == "completed" for e in enrollments(session, workflow))


def test_entry_while_enrolled_is_absorbed_even_when_read_again_later(
        session: Session, session_factory: sessionmaker[Session]) -> None:
    segment = make_segment(session)
    steps = [{"key": "hold", "type": "wait", "duration": {"minutes": 3}}, *ONE_STEP]
    workflow = active_workflow(session, definition(segment, steps=steps, reentry={"policy": "every_time"}))
    profile = ProfileFactory()
    enter(session, segment, profile, at=T0 + MINUTE)
    assert _cycle(session, session_factory, T0 + MINUTE) == 1
    enter(session, segment, profile, at=T0 + 2 * MINUTE)  # re-enters while the first enrollment waits
    assert _cycle(session, session_factory, T0 + 2 * MINUTE) == 0
    assert _cycle(session, session_factory, T0 + 5 * MINUTE) == 0  # first one completes; event re-read
    assert [e.status for e in enrollments(session, workflow)] == ["completed"]


def test_many_profiles_enter_at_once(session: Session) -> None:
    segment, workflow = _workflow(session, {"policy": "once"})
    profiles = ProfileFactory.create_batch(5)
    enter(session, segment, *profiles, at=T0 + MINUTE)
    enter(session, segment, profiles[0], at=T0 + MINUTE)  # a duplicate event for one of them
    assert enroll_from_events(session, now=T0 + 2 * MINUTE) == 5
    assert sorted(e.profile_id for e in enrollments(session, workflow)) == sorted(p.id for p in profiles)


def test_database_refuses_two_active_enrollments(session: Session) -> None:
    segment, workflow = _workflow(session, {"policy": "every_time"})
    profile = ProfileFactory()

    def enrollment(key: str, status: str = "active") -> Enrollment:
        return Enrollment(workflow_id=workflow.id, profile_id=profile.id, trigger_key=key, status=status,
                          current_step_key="tag", next_run_at=T0, enrolled_at=T0)

    session.add(enrollment("a"))
    session.add(enrollment("b", status="completed"))  # finished ones do not count
    session.flush()
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(enrollment("c"))
        session.flush()


def test_paused_and_out_of_window_workflows_do_not_enroll(session: Session) -> None:
    segment = make_segment(session)
    window = {"starts_at": (T0 + DAY).isoformat(), "ends_at": (T0 + 2 * DAY).isoformat()}
    workflow = active_workflow(session, definition(segment, steps=ONE_STEP, schedule=window,
                                                   reentry={"policy": "every_time"}))
    profile = ProfileFactory()
    enter(session, segment, profile, at=T0 + MINUTE)
    assert enroll_from_events(session, now=T0 + 2 * MINUTE) == 0  # before the campaign starts
    enter(session, segment, profile, at=T0 + DAY + MINUTE)
    assert enroll_from_events(session, now=T0 + DAY + 2 * MINUTE) == 1
    enter(session, segment, ProfileFactory(), at=T0 + 2 * DAY + MINUTE)
    assert enroll_from_events(session, now=T0 + 2 * DAY + 2 * MINUTE) == 0  # after it ended
    assert len(enrollments(session, workflow)) == 1

"""Building blocks for workflow tests: a segment with entry events, a workflow from a definition."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.models import (
    Enrollment,
    EnrollmentStep,
    Profile,
    Segment,
    SegmentEvent,
    SegmentMember,
    Workflow,
)
from crm_segments.workflows.editing import create_workflow
from crm_segments.workflows.lifecycle import set_status

T0 = dt.datetime(2024, 6, 3, 9, 0, tzinfo=dt.UTC)  # a Monday


def make_segment(session: Session, name: str = "Quoted", key: str | None = None) -> Segment:
    segment = Segment(name=name, key=key, kind="static")
    session.add(segment)
    session.flush()
    return segment


def enter(session: Session, segment: Segment, *profiles: Profile, at: dt.datetime) -> None:
    """The profiles enter the segment at ``at``: member rows and 'entered' events, as a refresh writes."""
    for profile in profiles:
        if session.get(SegmentMember, (segment.id, profile.id)) is None:
            session.add(SegmentMember(segment_id=segment.id, profile_id=profile.id, entered_at=at))
        session.add(SegmentEvent(segment_id=segment.id, profile_id=profile.id, kind="entered",
                                 occurred_at=at))
    session.flush()


def leave(session: Session, segment: Segment, *profiles: Profile, at: dt.datetime) -> None:
    for profile in profiles:
        member = session.get(SegmentMember, (segment.id, profile.id))
        if member is not None:
            session.delete(member)
        session.add(SegmentEvent(segment_id=segment.id, profile_id=profile.id, kind="exited", occurred_at=at))
    session.flush()


def definition(segment: Segment | None = None, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Follow-up",
        "trigger": {"type": "segment_entered", "segment": segment.name if segment else "Quoted"},
        "steps": [
            {"key": "tag_one", "type": "add_tag", "tag": "followed up"},
            {"key": "pause", "type": "wait", "duration": {"days": 2}},
            {"key": "tag_two", "type": "add_tag", "tag": "reminded"},
        ],
    }
    data.update(overrides)
    return data


def active_workflow(session: Session, data: dict[str, Any], *, at: dt.datetime = T0) -> Workflow:
    workflow = create_workflow(session=session, data=data)
    set_status(session=session, workflow_id=workflow.id, status="active", now=at)
    return workflow


def enrollments(session: Session, workflow: Workflow) -> list[Enrollment]:
    session.flush()
    session.expire_all()
    return list(session.scalars(
        select(Enrollment).where(Enrollment.workflow_id == workflow.id).order_by(Enrollment.id)
    ))


def steps_run(session: Session, enrollment: Enrollment) -> list[str]:
    return list(session.scalars(
        select(EnrollmentStep.step_key).where(EnrollmentStep.enrollment_id == enrollment.id)
        .order_by(EnrollmentStep.id)
    ))


def count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


EMAIL_TEMPLATE = "evergreen/welcome"  # profile-only: the helpers' triggers attach no record
SMS_TEMPLATE = "marketing/win_back_reminder"

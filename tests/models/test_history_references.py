"""Segment events, workflow enrollments and consent history always name an existing profile, segment
and workflow, and go with them.

The references are enforced by triggers rather than foreign keys (HISTORY_REFERENCE_TRIGGERS and
MEMBER_CONSENT_PROFILE_TRIGGERS in models/triggers.py), both in a schema built from the models and in a
migrated one. (Segment members: tests/segments/test_member_integrity.py.)
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_segments.db import make_engine, make_session_factory
from crm_segments.models import (
    ConsentChange,
    Enrollment,
    EnrollmentStep,
    Profile,
    Segment,
    SegmentEvent,
    Workflow,
)
from tests.factories import ProfileFactory, bind_session
from tests.segments.test_member_integrity import migrated_url  # noqa: F401  (a fixture)
from tests.segments.test_refresh import make_segment

NOW = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
EVENTS: Table = SegmentEvent.__table__  # type: ignore[assignment]
ENROLLMENTS: Table = Enrollment.__table__  # type: ignore[assignment]
CONSENTS: Table = ConsentChange.__table__  # type: ignore[assignment]


def _workflow(session: Session, name: str) -> Workflow:
    workflow = Workflow(name=name, trigger_type="segment_entered", steps=[])
    session.add(workflow)
    session.flush()
    return workflow


def _count(session: Session, table: Table, **where: int) -> int:
    query = select(func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    return session.scalar(query) or 0


def check_history_references(session: Session) -> None:
    segments = [make_segment(session), make_segment(session, name="Other")]
    workflows = [_workflow(session, "First"), _workflow(session, "Second")]
    profiles = [ProfileFactory() for _ in range(3)]
    session.flush()
    session.execute(insert(EVENTS), [
        {"segment_id": s.id, "profile_id": p.id, "kind": "entered", "occurred_at": NOW}
        for s in segments for p in profiles])
    session.execute(insert(ENROLLMENTS), [
        {"workflow_id": w.id, "profile_id": p.id, "trigger_key": f"t{p.id}", "enrolled_at": NOW}
        for w in workflows for p in profiles])
    consent = {"channel": "email", "old_value": False, "new_value": True, "source": "import",
               "changed_at": NOW}
    session.execute(insert(CONSENTS), [{"profile_id": p.id, **consent} for p in profiles])
    enrollment = session.scalar(select(Enrollment.id).where(Enrollment.workflow_id == workflows[0].id,
                                                             Enrollment.profile_id == profiles[0].id))
    session.add(EnrollmentStep(enrollment_id=enrollment, step_key="s1", step_type="wait", outcome="waited"))
    session.flush()
    no_segment = (session.scalar(select(func.max(Segment.id))) or 0) + 100
    no_workflow = (session.scalar(select(func.max(Workflow.id))) or 0) + 100
    no_profile = (session.scalar(select(func.max(Profile.id))) or 0) + 100

    event = {"kind": "entered", "occurred_at": NOW}
    refused = [
        insert(EVENTS).values(segment_id=no_segment, profile_id=profiles[0].id, **event),
        insert(EVENTS).values(segment_id=segments[0].id, profile_id=no_profile, **event),
        update(EVENTS).where(EVENTS.c.segment_id == segments[0].id).values(segment_id=no_segment),
        update(EVENTS).where(EVENTS.c.profile_id == profiles[0].id).values(profile_id=no_profile),
        insert(ENROLLMENTS).values(workflow_id=no_workflow, profile_id=profiles[0].id, trigger_key="x",
                                   enrolled_at=NOW),
        insert(ENROLLMENTS).values(workflow_id=workflows[0].id, profile_id=no_profile, trigger_key="y",
                                   enrolled_at=NOW),
        update(ENROLLMENTS).where(ENROLLMENTS.c.workflow_id == workflows[0].id)
        .values(workflow_id=no_workflow),
        update(ENROLLMENTS).where(ENROLLMENTS.c.profile_id == profiles[0].id).values(profile_id=no_profile),
        insert(CONSENTS).values(profile_id=no_profile, **consent),
        update(CONSENTS).where(CONSENTS.c.profile_id == profiles[0].id).values(profile_id=no_profile),
        update(Segment.__table__).where(Segment.id == segments[0].id).values(id=no_segment),
        update(Workflow.__table__).where(Workflow.id == workflows[0].id).values(id=no_workflow),
        update(Profile.__table__).where(Profile.id == profiles[0].id).values(id=no_profile),
    ]
    for statement in refused:
        with pytest.raises(IntegrityError), session.begin_nested():
            session.execute(statement)
    assert _count(session, EVENTS) == 6 and _count(session, ENROLLMENTS) == 6
    assert _count(session, CONSENTS) == 3

    session.execute(delete(Segment.__table__).where(Segment.id == segments[0].id))
    session.execute(delete(Workflow.__table__).where(Workflow.id == workflows[0].id))
    assert _count(session, EVENTS, segment_id=segments[0].id) == 0
    assert _count(session, ENROLLMENTS, workflow_id=workflows[0].id) == 0
    assert _count(session, EnrollmentStep.__table__) == 0  # went with its enrollment
    assert _count(session, EVENTS) == 3 and _count(session, ENROLLMENTS) == 3  # the others keep theirs

    session.execute(delete(Profile.__table__).where(Profile.id == profiles[0].id))
    assert _count(session, EVENTS, profile_id=profiles[0].id) == 0
    assert _count(session, ENROLLMENTS, profile_id=profiles[0].id) == 0
    assert _count(session, EVENTS) == 2 and _count(session, ENROLLMENTS) == 2
    assert _count(session, CONSENTS, profile_id=profiles[0].id) == 0 and _count(session, CONSENTS) == 2


def test_events_and_enrollments_refer_to_existing_rows(session: Session) -> None:
    check_history_references(session)


def test_a_migrated_database_keeps_the_same_references(migrated_url: str) -> None:  # noqa: F811
    engine = make_engine(migrated_url)
    try:
        with make_session_factory(engine)() as session:
            with bind_session(session):
                check_history_references(session)
            session.rollback()
    finally:
        engine.dispose()

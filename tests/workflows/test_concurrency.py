"""Two runners of due steps at once on PostgreSQL (real commits, separate connections): every step
runs once and queues one message."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

import crm_segments.models  # noqa: F401
from crm_segments.db import Base, make_engine, make_session_factory
from crm_segments.models import Enrollment, EnrollmentStep, Message, Profile
from crm_segments.workflows.engine import advance_due, enroll_due
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail

from .helpers import EMAIL_TEMPLATE, T0, active_workflow, definition, enter, make_segment

PROFILES = 300


@pytest.mark.postgres
def test_two_concurrent_runs_queue_each_message_once() -> None:
    if reason := postgres_reachable():
        skip_or_fail(reason)
    with private_postgres_database() as url:
        engine = make_engine(url, pool_size=4)
        try:
            Base.metadata.create_all(engine)
            factory = make_session_factory(engine)
            with factory() as session, session.begin():
                segment = make_segment(session)
                steps = [{"key": "hello", "type": "send_email", "template": EMAIL_TEMPLATE},
                         {"key": "later", "type": "wait", "duration": {"days": 1}}]
                active_workflow(session, definition(segment, steps=steps))
                profiles = [Profile(external_id=f"P{i}") for i in range(PROFILES)]
                session.add_all(profiles)
                session.flush()
                enter(session, segment, *profiles, at=T0 + dt.timedelta(minutes=1))
            assert enroll_due(factory, now=T0 + dt.timedelta(minutes=2)) == PROFILES

            start = threading.Barrier(2)

            def run(_: int) -> int:
                start.wait()
                return advance_due(factory, now=T0 + dt.timedelta(minutes=3), batch_size=20)

            with ThreadPoolExecutor(max_workers=2) as pool:
                ran = list(pool.map(run, range(2)))

            with factory() as session:
                assert sum(ran) == PROFILES  # each enrollment claimed by exactly one runner
                assert session.scalar(select(func.count()).select_from(Message)) == PROFILES
                assert session.scalar(select(func.count(Message.enrollment_id.distinct()))) == PROFILES
                assert session.scalar(select(func.count()).select_from(EnrollmentStep)) == 2 * PROFILES
                assert session.scalar(select(func.count()).where(Enrollment.last_error.is_not(None))) == 0
        finally:
            engine.dispose()

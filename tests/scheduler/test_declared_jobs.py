"""Every declared periodic job runs for real against an initialised database with demo data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select

from crm_segments import create_app, migrate
from crm_segments.demo.seed import seed_demo
from crm_segments.models import Segment, SegmentMember, Workflow
from crm_segments.scheduler import jobs
from crm_segments.state import get_state
from crm_segments.wiring import install_defaults
from crm_segments.workflows.lifecycle import set_status


@pytest.fixture(scope="module")
def seeded_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    folder = tmp_path_factory.mktemp("jobs")
    url = f"sqlite:///{folder / 'crm.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(folder / "instance"))
        migrate.upgrade(url)
        app = create_app({"SECRET_KEY": "x" * 32, "CRM_SEGMENTS_DATABASE_URL": url,
                          "CRM_SEGMENTS_OUTBOX_DIR": str(folder / "outbox")})
        factory = get_state(app).session_factory
        with factory() as session, session.begin():
            install_defaults(session=session)
        seed_demo(app, profiles=300, seed=7)
        with factory() as session, session.begin():
            for workflow_id in session.scalars(select(Workflow.id)).all():
                set_status(session=session, workflow_id=workflow_id, status="active",
                           now=dt.datetime.now(dt.UTC))
        yield app
        get_state(app).engine.dispose()


@pytest.mark.parametrize("job", jobs.JOBS, ids=lambda job: job.id)
def test_declared_job_runs_against_a_real_database(seeded_app: Flask, job: jobs.ScheduledJob) -> None:
    state = get_state(seeded_app)  # the jobs need the state only, no app context
    jobs.run_job(job.id, now=dt.datetime.now(dt.UTC), state=state)
    jobs.run_job(job.id, now=dt.datetime.now(dt.UTC), state=state)  # a second run right after is harmless


def test_refresh_job_fills_the_shipped_segments(seeded_app: Flask) -> None:
    jobs.run_job("segments.refresh_due", now=dt.datetime.now(dt.UTC), state=get_state(seeded_app))
    with get_state(seeded_app).session_factory() as session:
        refreshed = session.scalar(select(func.count()).select_from(Segment)
                                   .where(Segment.last_refreshed_at.is_not(None)))
        members = session.scalar(select(func.count()).select_from(SegmentMember))
    assert refreshed and refreshed >= 20
    assert members and members > 0


def test_the_job_ids_stay_those_the_job_store_holds() -> None:
    # APScheduler stores run_job and the id only: a renamed id would orphan the stored job.
    assert [job.id for job in jobs.JOBS] == [
        "segments.refresh_due", "tasks.run_pending", "tagging.auto_rules", "workflows.enroll",
        "workflows.advance", "messages.dispatch_due"]

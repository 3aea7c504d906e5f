"""One scheduler acts at a time; missed runs after downtime are caught up once."""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete, select, update

from crm_segments import create_app, migrate
from crm_segments.models import SchedulerJob, SchedulerLease
from crm_segments.scheduler import jobs, lease
from crm_segments.scheduler.runner import SchedulerRunner
from crm_segments.state import get_state
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail
from tests.scheduler import targets

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
TTL = dt.timedelta(seconds=30)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def scheduler_app(request: pytest.FixtureRequest, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """An app on its own migrated database: the scheduler commits for real."""
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'scheduler.db'}"
        migrate.upgrade(url)
        yield create_app({"SECRET_KEY": "x" * 32, "CRM_SEGMENTS_DATABASE_URL": url})
        return
    reason = postgres_reachable()
    if reason:
        skip_or_fail(reason)
    with private_postgres_database() as url:
        migrate.upgrade(url)
        app = create_app({"SECRET_KEY": "x" * 32, "CRM_SEGMENTS_DATABASE_URL": url})
        yield app
        get_state(app).engine.dispose()


@pytest.fixture
def test_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "JOBS", (
        jobs.ScheduledJob("test.record", targets.record_run, 3600, "record"),))
    import crm_segments.scheduler.runner as runner_module
    monkeypatch.setattr(runner_module, "JOBS", jobs.JOBS)
    targets.runs.clear()
    targets.states.clear()
    targets.ran.clear()


def test_only_one_holder_gets_the_lease_until_it_expires(scheduler_app: Flask) -> None:
    engine = get_state(scheduler_app).engine
    assert lease.try_acquire(engine, name="s", holder="a", ttl=TTL, now=T0)
    assert not lease.try_acquire(engine, name="s", holder="b", ttl=TTL, now=T0 + dt.timedelta(seconds=10))
    assert lease.try_acquire(engine, name="s", holder="a", ttl=TTL, now=T0 + dt.timedelta(seconds=20))
    # a's renewal pushed expiry to T0+50s; b gets it only after that
    assert not lease.try_acquire(engine, name="s", holder="b", ttl=TTL, now=T0 + dt.timedelta(seconds=45))
    assert lease.try_acquire(engine, name="s", holder="b", ttl=TTL, now=T0 + dt.timedelta(seconds=51))
    assert not lease.try_acquire(engine, name="s", holder="a", ttl=TTL, now=T0 + dt.timedelta(seconds=52))


def test_two_runners_one_leader(scheduler_app: Flask, test_jobs: None) -> None:
    first, second = SchedulerRunner(scheduler_app), SchedulerRunner(scheduler_app)
    try:
        assert first.step() is True
        assert second.step() is False
        assert first.is_leader and not second.is_leader
        first.stop()  # releases nothing by itself; run_forever releases on exit
        lease.release(get_state(scheduler_app).engine, name="scheduler", holder=first.holder)
        assert second.step() is True and second.is_leader
    finally:
        first.stop()
        second.stop()


def test_missed_runs_after_downtime_run_once(scheduler_app: Flask, test_jobs: None) -> None:
    runner = SchedulerRunner(scheduler_app)
    runner.step()
    runner.stop()
    # Pretend the process was down for ten intervals: rewrite the stored next run to ten hours ago.
    overdue = dt.datetime.now(dt.UTC) - dt.timedelta(hours=10)
    engine = get_state(scheduler_app).engine
    stored = SchedulerJob.__table__
    with engine.begin() as conn:
        state = pickle.loads(conn.scalar(select(stored.c.job_state)))
        state["next_run_time"] = overdue
        conn.execute(update(stored).values(job_state=pickle.dumps(state),
                                           next_run_time=overdue.timestamp()))
        conn.execute(delete(SchedulerLease.__table__))
    assert targets.runs == []

    restarted = SchedulerRunner(scheduler_app)
    try:
        restarted.step()
        assert targets.ran.wait(timeout=20), "the overdue job did not run"
    finally:
        restarted.stop()
    assert len(targets.runs) == 1  # coalesced: ten missed runs, one execution
    assert targets.states == [get_state(scheduler_app)]  # the job ran with the runner's state
    with engine.begin() as conn:  # and the stored job keeps only its id
        job_state = pickle.loads(conn.scalar(select(stored.c.job_state)))
    assert (job_state["args"], job_state["kwargs"]) == (("test.record",), {})
    with engine.begin() as conn:
        next_run = conn.scalar(select(stored.c.next_run_time))
    assert next_run > dt.datetime.now(dt.UTC).timestamp()

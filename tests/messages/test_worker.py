"""crm-segments worker: the sending loop as a process of its own, started any number of times against one
database; a stop request ends it after the batch under way."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

import crm_segments.models  # noqa: F401  (fills Base.metadata)
from crm_segments import create_app
from crm_segments.db import Base, make_engine, make_session_factory
from crm_segments.messages.worker import SendWorker
from crm_segments.models import Message, Profile
from crm_segments.state import get_state
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail
from tests.fakes import FakeSendGrid

REPO = Path(__file__).resolve().parents[2]
WAIT = 60.0  # seconds a worker process may take to send what the test queued


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def committed_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of this module's own, where every commit is real (worker processes use it)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('worker') / 'messages.db'}"
        _create(url)
        yield url
        return
    if reason := postgres_reachable():
        skip_or_fail(reason)
    with private_postgres_database() as url:
        _create(url)
        yield url


@pytest.fixture(scope="module")
def postgresql_committed_url() -> Iterator[str]:
    if reason := postgres_reachable():
        skip_or_fail(reason)
    with private_postgres_database() as url:
        _create(url)
        yield url


def _create(url: str) -> None:
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()


@pytest.fixture
def factory(committed_url: str) -> Iterator[sessionmaker[Session]]:
    yield from _emptied_after(committed_url)


@pytest.fixture
def postgresql_factory(postgresql_committed_url: str) -> Iterator[sessionmaker[Session]]:
    yield from _emptied_after(postgresql_committed_url)


def _emptied_after(url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(url)
    yield make_session_factory(engine)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    engine.dispose()


def _environment(url: str, fake: FakeSendGrid, tmp_path: Path) -> dict[str, str]:
    return {"DATABASE_URL": url, "SECRET_KEY": "k" * 32,
            "CRM_SEGMENTS_INSTANCE_DIR": str(tmp_path / "instance"),
            "CRM_SEGMENTS_PUBLIC_URL": "https://crm.example.com",
            "CRM_SEGMENTS_SENDGRID_API_KEY": fake.api_key, "CRM_SEGMENTS_SENDGRID_HOST": fake.url,
            "CRM_SEGMENTS_EMAIL_FROM": "Shop <shop@example.com>"}


def _queue(factory: sessionmaker[Session], count: int) -> list[int]:
    """``count`` reachable profiles with one email each, due a minute ago."""
    due = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with factory() as session, session.begin():
        profiles = session.scalars(insert(Profile).returning(Profile.id), [
            {"external_id": f"W-{n}", "first_name": f"W{n}", "email": f"w{n}@example.com",
             "email_consent": True, "time_zone": "UTC"} for n in range(count)]).all()
        return list(session.scalars(insert(Message).returning(Message.id), [
            {"dedupe_key": f"worker:{profile}", "profile_id": profile, "channel": "email",
             "category": "marketing", "template_key": "evergreen/welcome", "context": {},
             "next_attempt_at": due} for profile in profiles]))


def _statuses(factory: sessionmaker[Session]) -> dict[int, str]:
    with factory() as session:
        return dict(session.execute(select(Message.id, Message.status)).all())


def _sent_ids(fake: FakeSendGrid) -> list[int]:
    return sorted(int(fake.custom_args(m)["crm_message_id"]) for m in fake.messages)


def _worker_process(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", "from crm_segments.cli import main; main()", "worker",
                             "--poll", "0.1", *args], cwd=REPO, env={**os.environ, **env}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_until_sent(factory: sessionmaker[Session], ids: list[int]) -> None:
    deadline = time.monotonic() + WAIT
    while set(_statuses(factory).values()) != {"sent"}:
        if time.monotonic() > deadline:
            raise AssertionError(f"not all of {len(ids)} sent within {WAIT:g} s: {_statuses(factory)}")
        time.sleep(0.1)


def test_a_worker_sends_batch_after_batch_until_nothing_is_due(
        committed_url: str, factory: sessionmaker[Session], fake_sendgrid: FakeSendGrid, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _queue(factory, 25)
    for name, value in _environment(committed_url, fake_sendgrid, tmp_path).items():
        monkeypatch.setenv(name, value)
    app: Flask = create_app()
    worker = SendWorker(app, batch=10, poll=0.05, lanes=1)  # one lane: the batches follow each other
    try:
        stats = worker.run_forever(on_idle=worker.request_stop)  # stops the first time it finds nothing due
    finally:
        get_state(app).engine.dispose()
    assert (stats.batches, stats.report.claimed, stats.report["sent"]) == (3, 25, 25)
    assert _sent_ids(fake_sendgrid) == sorted(ids)
    assert set(_statuses(factory).values()) == {"sent"}


@pytest.mark.postgres
def test_two_worker_processes_on_one_database_send_each_message_once(
        postgresql_committed_url: str, postgresql_factory: sessionmaker[Session], fake_sendgrid: FakeSendGrid,
        tmp_path: Path) -> None:
    env = _environment(postgresql_committed_url, fake_sendgrid, tmp_path)
    workers = [_worker_process(env, "--batch", "20") for _ in range(2)]
    ids = _queue(postgresql_factory, 200)
    try:
        _wait_until_sent(postgresql_factory, ids)
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
    outputs = [process.communicate(timeout=WAIT) for process in workers]
    assert [process.returncode for process in workers] == [0, 0], outputs
    claimed = [int(out.split("Worker stopped: ")[1].split()[0]) for out, _ in outputs]
    assert sum(claimed) == 200
    assert _sent_ids(fake_sendgrid) == sorted(ids)  # each exactly once
    assert len(fake_sendgrid.requests) == 200


def test_a_stop_request_ends_the_worker_after_the_batch_under_way(
        committed_url: str, factory: sessionmaker[Session], fake_sendgrid: FakeSendGrid,
        tmp_path: Path) -> None:
    [message] = _queue(factory, 1)
    held = fake_sendgrid.block_next()  # SendGrid takes the message and holds its answer
    process = _worker_process(_environment(committed_url, fake_sendgrid, tmp_path))
    try:
        held.wait_received(WAIT)
        process.send_signal(signal.SIGTERM)
    finally:
        held.release()
    out, err = process.communicate(timeout=WAIT)
    assert process.returncode == 0, err
    assert "Worker stopped: 1 messages in 1 batches (1 sent)." in out
    assert _statuses(factory) == {message: "sent"} and len(fake_sendgrid.requests) == 1


def test_with_scheduler_sends_off_the_scheduled_job_leaves_sending_to_the_workers(
        committed_url: str, factory: sessionmaker[Session], fake_sendgrid: FakeSendGrid, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from crm_segments.messages.jobs import scheduled_dispatch

    ids = _queue(factory, 3)
    for name, value in {**_environment(committed_url, fake_sendgrid, tmp_path),
                        "CRM_SEGMENTS_SCHEDULER_SENDS": "false"}.items():
        monkeypatch.setenv(name, value)
    app: Flask = create_app()
    try:
        report = scheduled_dispatch(get_state(app), now=dt.datetime.now(dt.UTC))
        assert report.claimed == 0 and set(_statuses(factory).values()) == {"pending"}
        worker = SendWorker(app, poll=0.05)
        assert worker.run_forever(on_idle=worker.request_stop).report["sent"] == 3
    finally:
        get_state(app).engine.dispose()
    assert _sent_ids(fake_sendgrid) == sorted(ids)


def test_with_workflows_a_worker_runs_due_steps_and_sends_what_they_queue(
        committed_url: str, factory: sessionmaker[Session], fake_sendgrid: FakeSendGrid, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from crm_segments.workflows.engine import advance_due, enroll_due
    from tests.workflows.helpers import EMAIL_TEMPLATE, active_workflow, definition, enter, make_segment

    entered = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    with factory() as session, session.begin():
        segment = make_segment(session)
        active_workflow(session, definition(segment, steps=[
            {"key": "hello", "type": "send_email", "template": EMAIL_TEMPLATE},
            {"key": "later", "type": "wait", "duration": {"days": 1}}]), at=entered)
        profiles = [Profile(external_id=f"F{n}", first_name=f"F{n}", email=f"f{n}@example.com",
                            email_consent=True, time_zone="UTC") for n in range(5)]
        session.add_all(profiles)
        session.flush()
        enter(session, segment, *profiles, at=entered + dt.timedelta(seconds=1))
    assert enroll_due(factory, now=dt.datetime.now(dt.UTC)) == 5  # the scheduler's part
    for name, value in _environment(committed_url, fake_sendgrid, tmp_path).items():
        monkeypatch.setenv(name, value)
    app: Flask = create_app()
    worker = SendWorker(app, poll=0.05, steps=advance_due)
    deadline = time.monotonic() + WAIT

    def stop_once_sent() -> None:
        if len(fake_sendgrid.messages) == 5:
            worker.request_stop()
        elif time.monotonic() > deadline:
            raise AssertionError(f"{len(fake_sendgrid.messages)} of 5 sent within {WAIT:g} s")

    try:
        worker.run_forever(on_idle=stop_once_sent)
    finally:
        get_state(app).engine.dispose()
    assert sorted(fake_sendgrid.recipients()) == [f"f{n}@example.com" for n in range(5)]
    assert set(_statuses(factory).values()) == {"sent"}

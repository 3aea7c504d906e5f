"""Exactly once under concurrency and crashes, on databases whose commits are real.

- Two dispatchers at once: every message reaches the provider once.
- A sender killed after the provider took the message but before the outcome was written: once its
  claim runs out the message is ``unknown`` (not re-sent), and the provider's delivery event settles it.
- A sender killed before the provider call: the claim expires and the message goes out once.
- A sender that runs longer than the claim's lease renews its claims: nobody takes them over.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import crm_segments.models  # noqa: F401  (fills Base.metadata)
from crm_segments.channels import Accepted, Outgoing
from crm_segments.channels.sendgrid import SendGridChannel
from crm_segments.config import Settings
from crm_segments.db import Base, make_engine, make_session_factory
from crm_segments.delivery.sendgrid_events import record_sendgrid_events
from crm_segments.messages import claims
from crm_segments.messages.dispatch import SENDING_LEASE, claim_lease, dispatch_due
from crm_segments.models import Message, Profile
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail
from tests.fakes import FakeSendGrid
from tests.fakes.webhooks import sendgrid_event

from .conftest import T0

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def committed_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of this module's own, where every commit is real (several processes use it)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('committed') / 'messages.db'}"
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        yield url
        return
    if reason := postgres_reachable():
        skip_or_fail(reason)
    with private_postgres_database() as url:
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        yield url


@pytest.fixture
def factory(committed_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(committed_url)
    yield make_session_factory(engine)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    engine.dispose()


def _profiles_with_messages(factory: sessionmaker[Session], count: int, *, per_profile: int = 1) -> list[int]:
    with factory() as session, session.begin():
        ids = []
        for n in range(count):
            profile = Profile(external_id=f"P-{n}", first_name=f"P{n}", email=f"p{n}@example.com",
                              email_consent=True, time_zone="UTC")
            session.add(profile)
            session.flush()
            for step in range(per_profile):
                message = Message(dedupe_key=f"enrollment:{n}:step:{step}", profile_id=profile.id,
                                  channel="email", category="marketing", template_key="evergreen/welcome",
                                  context={}, next_attempt_at=T0)
                session.add(message)
                session.flush()
                ids.append(message.id)
    return ids


def _statuses(factory: sessionmaker[Session]) -> dict[int, str]:
    with factory() as session:
        return dict(session.execute(select(Message.id, Message.status)).all())


def _sent_ids(fake: FakeSendGrid) -> list[int]:
    return sorted(int(fake.custom_args(m)["crm_message_id"]) for m in fake.messages)


def test_two_dispatchers_at_once_send_each_message_once(
        factory: sessionmaker[Session], settings: Settings, fake_sendgrid: FakeSendGrid) -> None:
    ids = _profiles_with_messages(factory, 30)
    start = threading.Barrier(2)
    reports = []

    def run(workers: int) -> None:
        start.wait()
        reports.append(dispatch_due(factory, settings=settings, now=T0, limit=30, workers=workers))

    threads = [threading.Thread(target=run, args=(workers,)) for workers in (1, 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(r.claimed for r in reports) == 30 and sum(r["sent"] for r in reports) == 30
    assert _sent_ids(fake_sendgrid) == sorted(ids)  # each exactly once
    assert set(_statuses(factory).values()) == {"sent"}


def test_two_dispatchers_never_pass_one_profiles_frequency_cap_together(
        factory: sessionmaker[Session], settings: Settings, fake_sendgrid: FakeSendGrid) -> None:
    _profiles_with_messages(factory, 5, per_profile=3)
    start = threading.Barrier(3)

    def run() -> None:
        start.wait()
        dispatch_due(factory, settings=settings, now=T0, limit=5)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    dispatch_due(factory, settings=settings, now=T0)  # whatever is left
    recipients = fake_sendgrid.recipients()
    assert sorted(recipients) == sorted(set(recipients)) and len(recipients) == 5  # one each per day
    assert sorted(_statuses(factory).values()) == ["pending"] * 10 + ["sent"] * 5


def test_killed_after_the_provider_took_it_is_not_sent_again(
        committed_url: str, factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    [message_id] = _profiles_with_messages(factory, 1)
    blocker = fake_sendgrid.block_next()  # takes the message, then holds the answer
    sender = subprocess.Popen(
        [sys.executable, "-m", "tests.messages.sender_process", committed_url, fake_sendgrid.url,
         fake_sendgrid.api_key, T0.isoformat()],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        blocker.wait_received(timeout=30)
        os.kill(sender.pid, signal.SIGKILL)  # between the provider call and the status write
        sender.wait(timeout=10)
    finally:
        blocker.release()
        if sender.poll() is None:
            sender.kill()
        out, err = sender.communicate()
    assert sender.returncode == -signal.SIGKILL, err.decode()
    assert b"finished" not in out
    assert _statuses(factory) == {message_id: "sending"}
    assert len(fake_sendgrid.messages) == 1

    # Restarted dispatchers: within the claim's lease the row is left alone; after it, it becomes unknown.
    within = dispatch_due(factory, settings=settings, now=T0 + dt.timedelta(seconds=5))
    assert (within.claimed, within.recovered) == (0, 0)
    after_lease = T0 + claim_lease(settings) + dt.timedelta(minutes=1)
    assert dispatch_due(factory, settings=settings, now=after_lease).recovered == 1
    dispatch_due(factory, settings=settings, now=after_lease + dt.timedelta(hours=1))
    assert _statuses(factory) == {message_id: "unknown"}
    assert len(fake_sendgrid.messages) == 1 and len(fake_sendgrid.requests) == 1

    # SendGrid's events carry the message id in custom args: they settle the unknown message.
    accepted = fake_sendgrid.messages[0]
    with factory() as session, session.begin():
        report = record_sendgrid_events(session, [sendgrid_event(accepted, "processed"),
                                                  sendgrid_event(accepted, "delivered")], now=after_lease)
    assert report.recorded == 2
    with factory() as session:
        row = session.get(Message, message_id)
        assert row is not None
        assert (row.status, row.provider_message_id) == ("delivered", accepted["message_id"])


def test_a_sender_running_past_the_lease_keeps_its_claims(
        factory: sessionmaker[Session], settings: Settings, fake_sendgrid: FakeSendGrid) -> None:
    ids = _profiles_with_messages(factory, 24)
    short = dataclasses.replace(settings, messaging=dataclasses.replace(settings.messaging, claim_lease=2.0))
    fake_sendgrid.latency = 0.15  # one thread: the batch takes ~3.6 s, the claims last 2 s unless renewed
    started = time.monotonic()
    sender = threading.Thread(target=dispatch_due, args=(factory,),
                              kwargs={"settings": short, "now": T0, "workers": 1})
    sender.start()
    while not fake_sendgrid.requests and sender.is_alive():  # the sender has claimed them all
        time.sleep(0.01)
    taken_over = []
    while sender.is_alive():  # another dispatcher, looking again and again on the same clock
        now = T0 + dt.timedelta(seconds=time.monotonic() - started)
        other = dispatch_due(factory, settings=short, now=now, workers=1)
        taken_over.append(other.claimed + other.recovered)
        sender.join(timeout=0.2)
    assert time.monotonic() - started > 3  # the run outlasted the lease
    assert len(taken_over) > 10 and sum(taken_over) == 0
    assert Counter(_sent_ids(fake_sendgrid)) == Counter(ids)
    assert set(_statuses(factory).values()) == {"sent"}


class _Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the sender catches it."""


class _CrashingChannel(SendGridChannel):
    def __init__(self, inner: SendGridChannel, *, before_call: bool) -> None:
        self.__dict__.update(inner.__dict__)
        self.before_call = before_call

    def send(self, message: Outgoing) -> Accepted:
        if self.before_call:
            raise _Crash()
        super().send(message)
        raise _Crash()  # the provider has it; the outcome is never written


def test_crash_after_the_call_in_process_leaves_unknown_then_nothing_more(
        factory: sessionmaker[Session], settings: Settings, fake_sendgrid: FakeSendGrid) -> None:
    [message_id] = _profiles_with_messages(factory, 1)
    real = SendGridChannel(api_key=fake_sendgrid.api_key, email_from="shop@example.com",
                           host=fake_sendgrid.url)
    crashing = {"email": _CrashingChannel(real, before_call=False), "sms": real}
    with pytest.raises(_Crash):
        dispatch_due(factory, settings=settings, now=T0, channels=crashing)  # type: ignore[dict-item]
    later = T0 + SENDING_LEASE + dt.timedelta(minutes=1)
    dispatch_due(factory, settings=settings, now=later)
    assert _statuses(factory) == {message_id: "unknown"} and len(fake_sendgrid.messages) == 1


def test_crash_before_the_call_sends_once_after_restart(
        factory: sessionmaker[Session], settings: Settings, fake_sendgrid: FakeSendGrid) -> None:
    [message_id] = _profiles_with_messages(factory, 1)
    # A dispatcher that claimed the row and died before marking it sending.
    token, claimed = claims.claim_due(factory, now=T0, limit=10, lease=dt.timedelta(minutes=5))
    assert [c.id for c in claimed] == [message_id]
    assert dispatch_due(factory, settings=settings, now=T0 + dt.timedelta(minutes=1)).claimed == 0
    assert dispatch_due(factory, settings=settings, now=T0 + dt.timedelta(minutes=6))["sent"] == 1
    assert _statuses(factory) == {message_id: "sent"} and len(fake_sendgrid.messages) == 1


def test_local_outbox_resends_a_stalled_message_into_the_same_file(
        factory: sessionmaker[Session], tmp_path: Path) -> None:
    from .conftest import provider_settings

    local = provider_settings(tmp_path)
    [message_id] = _profiles_with_messages(factory, 1)
    with factory() as session, session.begin():
        row = session.get(Message, message_id)
        assert row is not None
        row.status, row.provider, row.attempted_at = "sending", "local", T0
    report = dispatch_due(factory, settings=local, now=T0 + SENDING_LEASE + dt.timedelta(seconds=1))
    assert report.recovered == 1 and report["sent"] == 1
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == [f"message-{message_id:08d}.eml"]

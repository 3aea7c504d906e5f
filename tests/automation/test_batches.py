"""The dispatcher works a batch at a time: parts started in one transaction, sends on a few threads,
outcomes written together. Each message still ends in its own right state, exactly once."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.automation import gates
from crm_segments.automation.channels import Accepted, Outgoing
from crm_segments.automation.dispatch import CLAIM_LEASE, SENDING_LEASE, dispatch_all, dispatch_due
from crm_segments.config import Settings
from crm_segments.models import Message
from tests.fakes import FakeSendGrid

from .conftest import T0
from .helpers import fresh, queue, reachable

pytestmark = pytest.mark.usefixtures("backend")


def _sent_ids(fake: FakeSendGrid) -> Counter[int]:
    return Counter(int(fake.custom_args(m)["crm_message_id"]) for m in fake.messages)


def test_a_batch_with_rate_limits_and_a_refused_address_ends_each_message_in_its_state(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    messages = [queue(session, reachable(email=f"b{n}@example.com")) for n in range(12)]
    fake_sendgrid.fail_address("b3@example.com", 429, retry_after=600)
    fake_sendgrid.fail_address("b7@example.com", 503)
    fake_sendgrid.reject_address("b9@example.com")
    report = dispatch_due(session_factory, settings=settings, now=T0, workers=4)
    assert (report["sent"], report["retry"], report["failed"]) == (9, 2, 1)

    limited, unavailable, refused = (fresh(session, messages[n]) for n in (3, 7, 9))
    assert (limited.status, limited.error_code, limited.attempts) == ("pending", "429", 1)
    assert limited.next_attempt_at == T0 + dt.timedelta(seconds=600)  # Retry-After, not the 30 s back-off
    assert (unavailable.status, unavailable.error_code) == ("pending", "503")
    assert unavailable.next_attempt_at == T0 + dt.timedelta(seconds=30)
    assert (refused.status, refused.error_code) == ("failed", "400")
    assert "Does not contain a valid address" in (refused.status_reason or "")
    others = [fresh(session, m) for n, m in enumerate(messages) if n not in (3, 7, 9)]
    assert {m.status for m in others} == {"sent"}
    assert all(m.provider_message_id for m in others)

    later = dispatch_due(session_factory, settings=settings, now=T0 + dt.timedelta(minutes=10), workers=4)
    assert (later.claimed, later["sent"]) == (2, 2)
    assert dispatch_due(session_factory, settings=settings, now=T0 + dt.timedelta(days=1)).claimed == 0
    assert _sent_ids(fake_sendgrid) == Counter(m.id for n, m in enumerate(messages) if n != 9)  # once each
    assert len(fake_sendgrid.requests) == 12 + 2
    assert fresh(session, refused).status == "failed"


@pytest.fixture
def statements(session_factory: sessionmaker[Session]) -> list[str]:
    """Every statement sent to the database (an executemany counts once)."""
    seen: list[str] = []
    connection = session_factory.kw["bind"]
    assert isinstance(connection, Connection)

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(connection, "before_cursor_execute", record)
    yield seen  # type: ignore[misc]
    event.remove(connection, "before_cursor_execute", record)


def test_a_part_is_started_and_recorded_with_a_few_statements_whatever_its_size(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid, statements: list[str], caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(40):
        queue(session, reachable())
    session.flush()
    statements.clear()
    with caplog.at_level(logging.WARNING, logger="crm_segments.automation"):
        report = dispatch_due(session_factory, settings=settings, now=T0, workers=4, chunk=16)
    assert report["sent"] == 40 and len(fake_sendgrid.messages) == 40
    assert caplog.records == []  # no part fell back to one message per transaction
    updates = [s for s in statements if s.startswith("UPDATE crm_messages")]
    parts = 3
    # recovery (2) + claim (1), then per part: take (1), write the rendered rows (1), write outcomes
    # (1 per group of answers; the pool returns them in a few groups).
    assert len(updates) <= 3 + parts * 5, updates
    data = [s for s in statements if not s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    assert len(data) < 40  # not a statement per message


def test_one_failing_row_is_redone_alone_and_never_holds_back_its_part(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid, monkeypatch: pytest.MonkeyPatch) -> None:
    messages = [queue(session, reachable()) for _ in range(6)]
    bad = messages[2]
    check = gates.check

    def broken_for_one(session: Session, message: Message, *args: Any, **kwargs: Any) -> gates.Hold | None:
        if message.id == bad.id:
            raise RuntimeError("a row the dispatcher cannot handle")
        return check(session, message, *args, **kwargs)

    monkeypatch.setattr(gates, "check", broken_for_one)
    report = dispatch_due(session_factory, settings=settings, now=T0, workers=4)
    assert (report["sent"], report.errors) == (5, 1)
    stuck = fresh(session, bad)
    assert (stuck.status, stuck.attempts) == ("pending", 0) and stuck.claim_token is not None
    assert dispatch_due(session_factory, settings=settings, now=T0 + dt.timedelta(minutes=1)).claimed == 0

    monkeypatch.setattr(gates, "check", check)
    after_claim = T0 + CLAIM_LEASE + dt.timedelta(seconds=1)
    assert dispatch_due(session_factory, settings=settings, now=after_claim)["sent"] == 1
    assert _sent_ids(fake_sendgrid) == Counter(m.id for m in messages)


def test_a_profiles_messages_in_one_batch_go_in_turn_and_share_the_cap(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    profiles = [reachable() for _ in range(5)]
    first = [queue(session, p, workflow_id=1) for p in profiles]
    second = [queue(session, p, workflow_id=2) for p in profiles]
    report = dispatch_due(session_factory, settings=settings, now=T0, workers=4)
    assert (report["sent"], report["deferred"]) == (5, 5)
    assert {fresh(session, m).status for m in first} == {"sent"}
    assert {(fresh(session, m).status, fresh(session, m).status_reason) for m in second} == {
        ("pending", "frequency cap reached")}
    assert sorted(fake_sendgrid.recipients()) == sorted(p.email for p in profiles)


def test_the_send_job_sends_batch_after_batch_until_nothing_is_due(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    messages = [queue(session, reachable()) for _ in range(12)]
    report = dispatch_all(session_factory, settings=settings, now=T0, limit=5, workers=4)
    assert (report.claimed, report["sent"]) == (12, 12)
    assert _sent_ids(fake_sendgrid) == Counter(m.id for m in messages)


class _Interrupted(BaseException):
    """Stands for the process being stopped: nothing in the sender catches it."""


class _StopsAtTheThird:
    provider = "sendgrid"
    idempotent = False

    def __init__(self, fake: FakeSendGrid) -> None:
        from crm_segments.automation.channels.sendgrid import SendGridChannel

        self.inner = SendGridChannel(api_key=fake.api_key, email_from="shop@example.com", host=fake.url)
        self.calls = 0

    def send(self, message: Outgoing) -> Accepted:
        self.calls += 1
        if self.calls == 3:
            raise _Interrupted()  # before the provider call
        return self.inner.send(message)


def test_an_interrupted_run_gives_back_what_never_left_and_never_sends_twice(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    messages = [queue(session, reachable()) for _ in range(6)]
    channel = _StopsAtTheThird(fake_sendgrid)
    with pytest.raises(_Interrupted):
        dispatch_due(session_factory, settings=settings, now=T0, channels={"email": channel, "sms": channel})
    # Started in one part: two went out (outcome not written), the third was being handed over, and
    # the three after it never left, so they are pending again.
    assert [fresh(session, m).status for m in messages] == ["sending"] * 3 + ["pending"] * 3
    assert [fresh(session, m).attempts for m in messages[3:]] == [0, 0, 0]

    after_lease = T0 + SENDING_LEASE + dt.timedelta(seconds=1)
    report = dispatch_due(session_factory, settings=settings, now=after_lease, workers=4)
    assert (report.recovered, report["sent"]) == (3, 3)
    assert [fresh(session, m).status for m in messages] == ["unknown"] * 3 + ["sent"] * 3
    went_out = [messages[0].id, messages[1].id, *(m.id for m in messages[3:])]
    assert _sent_ids(fake_sendgrid) == Counter(went_out)

"""The dispatcher works a batch at a time: parts checked in one transaction, a few messages marked
sending as threads come free, sends on a few threads, outcomes written together. Each message still
ends in its own right state, exactly once."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.channels import Accepted, Outgoing
from crm_segments.config import Settings
from crm_segments.messages import gates, starting
from crm_segments.messages.dispatch import claim_lease, dispatch_all, dispatch_due
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
    # Retry-After, not the 30 s back-off, counted from the answer (a moment after the run's start)
    assert T0 + dt.timedelta(seconds=600) <= limited.next_attempt_at < T0 + dt.timedelta(seconds=610)
    assert (unavailable.status, unavailable.error_code) == ("pending", "503")
    assert T0 + dt.timedelta(seconds=30) <= unavailable.next_attempt_at < T0 + dt.timedelta(seconds=40)
    assert (refused.status, refused.error_code) == ("failed", "400")
    assert "Does not contain a valid address" in (refused.status_reason or "")
    others = [fresh(session, m) for n, m in enumerate(messages) if n not in (3, 7, 9)]
    assert {m.status for m in others} == {"sent"}
    assert all(m.provider_message_id for m in others)

    later = dispatch_due(session_factory, settings=settings, now=T0 + dt.timedelta(minutes=11), workers=4)
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


def test_a_batch_takes_a_few_statements_per_part_and_per_group_handed_over(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid, statements: list[str], caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(40):
        queue(session, reachable())
    session.flush()
    statements.clear()
    with caplog.at_level(logging.WARNING, logger="crm_segments.messages"):
        report = dispatch_due(session_factory, settings=settings, now=T0, workers=4, chunk=16)
    assert report["sent"] == 40 and len(fake_sendgrid.messages) == 40
    assert caplog.records == []  # nothing fell back to one message per transaction
    data = [s for s in statements if not s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO"))]
    parts = 3
    # Each part's rows are read once, by their ids alone, and not locked: the writes check the rows.
    ordered = "ORDER BY crm_messages.next_attempt_at, crm_messages.id"
    taken = [s for s in data if s.startswith("SELECT crm_messages.id, crm_messages.dedupe_key")
             and "JOIN crm_profiles" in s]
    assert len(taken) == parts and all(s.endswith(ordered) for s in taken)
    assert not [s for s in data if s.startswith("SELECT crm_messages.") and "FOR UPDATE" in s]
    no_op = "UPDATE crm_messages SET claim_token=crm_messages.claim_token"
    assert not [s for s in data if s.startswith(no_op)]
    marks = [s for s in data
             if s.startswith("UPDATE crm_messages SET") and "attempts=(crm_messages.attempts +" in s]
    assert 40 / 4 <= len(marks) <= 40  # a group is at most the threads
    # What a message will say is written with its mark, once: no part writes the rows it let through.
    assert all("html_body=" in s for s in marks)
    assert not [s for s in data if s.startswith("UPDATE crm_messages SET") and "html_body=" in s
                and s not in marks]
    answers = [s for s in data if s.startswith("UPDATE crm_messages SET status=CASE")]
    assert len(answers) <= len(marks) + 4  # written with the next mark; after the last, as they come
    # Each mark writes only the rows still pending and ours, and says which it wrote.
    assert all(" RETURNING " in s and "crm_messages.claim_token =" in s for s in marks)
    # recovery (3), the check for dead senders (1), the claim (1) and the templates (1); per part: the
    # rows, what they render from, the caps' count (3); per group: profile locks (PostgreSQL), the caps'
    # count and the mark (3); and the answers.
    assert len(data) <= 6 + parts * 3 + len(marks) * 3 + len(answers), data


def test_no_more_messages_are_sending_at_once_than_there_are_threads(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a hard kill can leave in doubt: the rows ``sending`` when a group has just been marked."""
    messages = [queue(session, reachable()) for _ in range(40)]
    fake_sendgrid.latency = 0.01
    sending_after_each_mark: list[int] = []
    mark = starting.mark_sending

    def counting(session: Session, *args: Any, **kwargs: Any) -> starting.Started:
        marked = mark(session, *args, **kwargs)
        sending_after_each_mark.append(session.scalar(
            select(func.count()).select_from(Message).where(Message.status == "sending")) or 0)
        return marked

    monkeypatch.setattr(starting, "mark_sending", counting)
    assert dispatch_due(session_factory, settings=settings, now=T0, workers=4, chunk=16)["sent"] == 40
    assert 2 <= max(sending_after_each_mark) <= 4  # sends overlap, never more than the threads
    assert _sent_ids(fake_sendgrid) == Counter(m.id for m in messages)


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
    assert dispatch_due(session_factory, settings=settings, now=T0 + dt.timedelta(seconds=5)).claimed == 0

    monkeypatch.setattr(gates, "check", check)
    after_claim = T0 + claim_lease(settings) + dt.timedelta(minutes=1)
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
        from crm_segments.channels.sendgrid import SendGridChannel

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
    # Checked in one part, marked sending one at a time (one thread): two went out and were recorded,
    # the third was being handed over, and the three after it were never marked, so they are pending
    # again, with no claim.
    assert [fresh(session, m).status for m in messages] == ["sent"] * 2 + ["sending"] + ["pending"] * 3
    given_back = [fresh(session, m) for m in messages[3:]]
    assert [(m.attempts, m.claim_token) for m in given_back] == [(0, None)] * 3

    after_lease = T0 + claim_lease(settings) + dt.timedelta(seconds=1)
    report = dispatch_due(session_factory, settings=settings, now=after_lease, workers=4)
    assert (report.recovered, report["sent"]) == (1, 3)
    assert [fresh(session, m).status for m in messages] == ["sent"] * 2 + ["unknown"] + ["sent"] * 3
    went_out = [messages[0].id, messages[1].id, *(m.id for m in messages[3:])]
    assert _sent_ids(fake_sendgrid) == Counter(went_out)


def test_a_row_cancelled_while_its_part_is_checked_is_left_as_it_is(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid, monkeypatch: pytest.MonkeyPatch) -> None:
    """The part is read without locks: what is written after (a message held back, a mark) is written
    only to rows still pending and claimed by this dispatcher."""
    going = queue(session, reachable())
    held_back = queue(session, reachable(email_consent=False))  # would be suppressed
    cancelled_ready = queue(session, reachable())
    session.flush()
    write = starting.update_rows_returning
    cancelled: list[int] = []

    def cancelled_before_the_first_write(session: Session, *args: Any, **kwargs: Any) -> set[int]:
        if not cancelled:  # committed by another writer after the part was read
            cancelled[:] = [held_back.id, cancelled_ready.id]
            session.execute(update(Message).where(Message.id.in_(cancelled))
                            .values(status="skipped", status_reason="cancelled", claim_token=None))
        return write(session, *args, **kwargs)

    monkeypatch.setattr(starting, "update_rows_returning", cancelled_before_the_first_write)
    report = dispatch_due(session_factory, settings=settings, now=T0, workers=4)
    assert (report["sent"], report["lost_claim"], report["suppressed"]) == (1, 2, 0)
    assert _sent_ids(fake_sendgrid) == Counter([going.id])
    for message in (held_back, cancelled_ready):
        row = fresh(session, message)
        assert (row.status, row.status_reason, row.attempts) == ("skipped", "cancelled", 0)

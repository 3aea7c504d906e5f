"""Messages per day (crm_message_days, kept by triggers) agree with a count of the messages after
sends, delivery events, a failed send rolled back, an owner note, a deleted user and an erasure."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.config import Settings
from crm_segments.dashboard.messages import daily_messages
from crm_segments.delivery.sendgrid_events import record_sendgrid_events
from crm_segments.messages.dispatch import dispatch_due
from crm_segments.models import Message, MessageDay, User
from crm_segments.privacy.erasure import erase_profile
from crm_segments.utc_day import as_date, utc_day
from tests.databases import rows_written
from tests.factories import UserFactory
from tests.fakes import FakeSendGrid
from tests.fakes.webhooks import sendgrid_event

from .conftest import T0
from .helpers import queue, reachable

pytestmark = pytest.mark.usefixtures("backend")
METRICS = ("sent", "delivered", "opened", "clicked")


def recount(session: Session) -> dict[dt.date, tuple[int, ...]]:
    """Straight from the messages: per day sent, what was sent that day and later arrived, was opened..."""
    day = utc_day(Message.sent_at)
    rows = session.execute(
        select(day, func.count(), func.count(Message.delivered_at), func.count(Message.opened_at),
               func.count(Message.clicked_at))
        .where(Message.sent_at.is_not(None), Message.recipient_user_id.is_(None)).group_by(day))
    return {as_date(d): tuple(values) for d, *values in rows}


def kept(session: Session) -> dict[dt.date, tuple[int, ...]]:
    rows = session.execute(
        select(MessageDay.day, func.sum(MessageDay.sent), func.sum(MessageDay.delivered),
               func.sum(MessageDay.opened), func.sum(MessageDay.clicked)).group_by(MessageDay.day))
    return {as_date(d): tuple(int(v) for v in values) for d, *values in rows if any(values)}


def agree(session: Session) -> dict[dt.date, tuple[int, ...]]:
    session.expire_all()
    counted = recount(session)
    assert kept(session) == counted
    return counted


def send_all(session_factory: sessionmaker[Session], settings: Settings, at: dt.datetime) -> None:
    assert dispatch_due(session_factory, settings=settings, now=at)["sent"] >= 1


def test_day_counts_follow_sends_events_and_deletions(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid, tmp_path: Path) -> None:
    ann, bob, cat = (reachable(email=f"{name}@example.com") for name in ("ann", "bob", "cat"))
    for profile in (ann, bob, cat):
        queue(session, profile)
    send_all(session_factory, settings, T0)
    assert agree(session) == {T0.date(): (3, 0, 0, 0)}

    accepted = fake_sendgrid.messages
    events: list[dict[str, Any]] = [sendgrid_event(accepted[0], "delivered"),
                                    sendgrid_event(accepted[1], "open"),  # opened implies delivered
                                    sendgrid_event(accepted[1], "click"),
                                    sendgrid_event(accepted[1], "click")]  # counted once
    record_sendgrid_events(session, events, now=T0 + dt.timedelta(hours=1))
    assert agree(session) == {T0.date(): (3, 2, 1, 1)}

    # The next day's sends land on the next day; one note to an owner is not counted.
    owner = UserFactory()
    queue(session, bob, key="next-day")
    note = queue(session, cat, key="owner-note", now=T0 + dt.timedelta(days=2))
    session.execute(update(Message).where(Message.id == note.id).values(recipient_user_id=owner.id))
    send_all(session_factory, settings, T0 + dt.timedelta(days=2))
    next_day = (T0 + dt.timedelta(days=2)).date()
    assert agree(session)[next_day] == (1, 0, 0, 0)

    # A change rolled back leaves the counts as they were.
    with session.begin_nested() as savepoint:
        session.execute(update(Message).values(clicked_at=T0))
        assert kept(session)[T0.date()][3] == 3
        savepoint.rollback()
    assert agree(session)[T0.date()] == (3, 2, 1, 1)

    # The owner goes: the note becomes a message to the profile and counts from then on.
    session.delete(session.get(User, owner.id))
    session.flush()
    assert agree(session)[next_day] == (2, 0, 0, 0)

    # Erasing a profile takes its messages out of the counts.
    erase_profile(session=session, profile_id=bob.id, outbox_dir=tmp_path, user_id=None, via="cli")
    session.flush()
    assert agree(session) == {T0.date(): (2, 1, 0, 0), next_day: (1, 0, 0, 0)}


def test_the_home_page_chart_reads_the_day_counts(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    queue(session, reachable())
    send_all(session_factory, settings, T0)
    record_sendgrid_events(session, [sendgrid_event(fake_sendgrid.messages[0], "open")],
                           now=T0 + dt.timedelta(hours=1))
    shown = daily_messages(session, now=T0 + dt.timedelta(days=1), days=30)
    assert [shown.total(metric) for metric in METRICS] == [1, 1, 1, 0]
    assert shown.counts["sent"][-2] == 1 and shown.days[-2] == T0.date()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_group_marked_sent_in_one_statement_writes_its_day_once(session: Session) -> None:
    """On PostgreSQL the count is kept per statement: a row trigger upserted the same counter row once
    per message, and each upsert walked every version of it made earlier in the transaction."""
    messages = [queue(session, reachable(email=f"group{n}@example.com"), key=f"group-{n}") for n in range(64)]
    session.flush()

    before = rows_written(session, "crm_message_days")
    session.execute(update(Message).where(Message.id.in_([m.id for m in messages]))
                    .values(status="sent", sent_at=T0))
    assert rows_written(session, "crm_message_days") - before == 1
    assert agree(session)[T0.date()] == (64, 0, 0, 0)

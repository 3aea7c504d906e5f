"""A provider that refuses the product's credentials pauses its channel: one provider call, nothing
failed, every claimed message back in the queue, no further calls until an admin resumes it, and then
each message goes out exactly once."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.config import Settings
from crm_segments.messages.channel_pauses import channel_states, pause_channel, resume_channel
from crm_segments.messages.dispatch import dispatch_all, dispatch_due
from crm_segments.models import ChannelPause, Message
from tests.fakes import FakeSendGrid, FakeTwilio

from .conftest import T0
from .helpers import fresh, queue, reachable, soon_after

pytestmark = pytest.mark.usefixtures("backend")

REFUSAL = "The provided authorization grant is invalid, expired, or revoked"


def _pause(session: Session, channel: str) -> ChannelPause | None:
    session.expire_all()
    pause = session.get(ChannelPause, channel)
    return pause if pause is not None and pause.paused_at is not None else None


def _states(session: Session, messages: list[Message]) -> Counter[tuple[str, int]]:
    return Counter((row.status, row.attempts) for row in (fresh(session, m) for m in messages))


def test_a_revoked_sendgrid_key_pauses_email_until_an_admin_resumes_it(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid, fake_twilio: FakeTwilio) -> None:
    emails = [queue(session, reachable()) for _ in range(10)]
    sms = queue(session, reachable(), channel="sms")
    fake_sendgrid.api_key = "SG.rotated"  # the key the product holds was revoked at SendGrid

    # Parts of 2 on 4 threads: claimed messages are started, in flight and waiting when the 401 comes.
    first = dispatch_due(session_factory, settings=settings, now=T0, workers=4, chunk=2)
    assert len(fake_sendgrid.requests) == 1
    assert (first["failed"], first["paused"], first["sent"]) == (0, 10, 1)
    assert _states(session, emails) == Counter({("pending", 0): 10})
    assert all(fresh(session, m).claimed_until is None for m in emails)
    refused = fresh(session, emails[0])
    assert refused.error_code == "401" and REFUSAL in (refused.last_error or "")
    assert fresh(session, sms).status == "sent"
    pause = _pause(session, "email")
    assert pause is not None
    assert (pause.provider, pause.error_code) == ("sendgrid", "401") and soon_after(pause.paused_at, T0)
    assert REFUSAL in pause.error and pause.message_id == emails[0].id

    later = T0 + dt.timedelta(minutes=10)
    second = dispatch_all(session_factory, settings=settings, now=later, workers=4)
    assert (second.claimed, len(fake_sendgrid.requests)) == (0, 1)
    assert _states(session, emails) == Counter({("pending", 0): 10})

    fake_sendgrid.api_key = settings.messaging.sendgrid_api_key or ""  # the key is fixed
    assert resume_channel(session, "email", user_id=None, now=later) is True
    session.commit()
    assert _pause(session, "email") is None
    third = dispatch_due(session_factory, settings=settings, now=later, workers=4, chunk=2)
    assert third["sent"] == 10
    sent_ids = Counter(int(fake_sendgrid.custom_args(m)["crm_message_id"]) for m in fake_sendgrid.messages)
    assert sent_ids == Counter(m.id for m in emails)  # each exactly once
    assert _states(session, emails) == Counter({("sent", 1): 10})


def test_twilio_20003_pauses_sms_and_email_keeps_going(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid, fake_twilio: FakeTwilio) -> None:
    texts = [queue(session, reachable(), channel="sms") for _ in range(4)]
    emails = [queue(session, reachable()) for _ in range(4)]
    fake_twilio.auth_token = "rotated-token"
    report = dispatch_all(session_factory, settings=settings, now=T0, limit=3, workers=2)
    assert len(fake_twilio.requests) == 1 and report["failed"] == 0
    assert _states(session, texts) == Counter({("pending", 0): 4})
    assert _states(session, emails) == Counter({("sent", 1): 4})  # later batches still send email
    pause = _pause(session, "sms")
    assert pause is not None and (pause.provider, pause.error_code) == ("twilio", "20003")
    assert "Authenticate" in pause.error
    assert _pause(session, "email") is None

    fake_twilio.auth_token = settings.messaging.twilio_auth_token or ""
    assert resume_channel(session, "sms", user_id=None, now=T0) is True
    assert dispatch_all(session_factory, settings=settings, now=T0, workers=2)["sent"] == 4
    assert len(fake_twilio.messages) == 4


def test_a_403_pauses_too_and_a_second_refusal_keeps_the_first(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    message = queue(session, reachable())
    fake_sendgrid.fail_next(403)
    dispatch_due(session_factory, settings=settings, now=T0)
    first = _pause(session, "email")
    assert first is not None and first.error_code == "403" and soon_after(first.paused_at, T0)
    assert fresh(session, message).status == "pending"

    # A dispatcher that claimed before the pause (another process) meets the refusal again.
    pause_channel(session, channel="email", provider="sendgrid", error="SendGrid 401: later",
                  error_code="401", message_id=None, now=T0 + dt.timedelta(minutes=1))
    again = _pause(session, "email")
    assert again is not None and (again.error_code, again.paused_at) == ("403", first.paused_at)


def test_resume_of_a_channel_that_is_not_paused_changes_nothing(session: Session) -> None:
    assert resume_channel(session, "email", user_id=None, now=T0) is False
    assert session.scalars(select(ChannelPause)).all() == []
    states = {s.channel: s for s in channel_states(session)}
    assert set(states) == {"email", "sms"} and not any(s.paused for s in states.values())

"""Sending through the official libraries to the fake providers: what goes out, retries, permanent
errors, ambiguous answers, and one bad recipient never stopping a batch."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket

import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.config import Settings
from crm_segments.delivery.links import read_unsubscribe_token
from crm_segments.delivery.sendgrid_events import record_sendgrid_events
from crm_segments.messages.dispatch import dispatch_due
from crm_segments.messages.retry import MAX_ATTEMPTS
from tests.factories import QuoteFactory, QuoteLineFactory
from tests.fakes import FakeSendGrid, FakeTwilio
from tests.fakes.webhooks import sendgrid_event

from .conftest import BASE_URL, T0
from .helpers import consent_changes, fresh, queue, reachable, soon_after

pytestmark = pytest.mark.usefixtures("backend")


def test_email_goes_out_once_with_message_id_and_unsubscribe_headers(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    profile = reachable(email="ann@example.com", first_name="Ann")
    quote = QuoteFactory(profile=profile, number="Q-5150")
    QuoteLineFactory(quote=quote, description="Boiler service")
    message = queue(session, profile, template="sales/quote_follow_up",
                    context={"record_type": "quote", "record_id": quote.id})
    report = dispatch_due(session_factory, settings=settings, now=T0)
    assert report["sent"] == 1
    again = dispatch_due(session_factory, settings=settings, now=T0 + dt.timedelta(hours=1))
    assert again.claimed == 0 and len(fake_sendgrid.messages) == 1

    sent = fake_sendgrid.messages[0]
    personalization = sent["personalizations"][0]
    assert personalization["to"] == [{"email": "ann@example.com"}]
    assert personalization["custom_args"] == {"crm_message_id": str(message.id)}
    assert sent["from"] == {"name": "Shop", "email": "shop@example.com"}
    unsubscribe = sent["headers"]["List-Unsubscribe"].strip("<>")
    assert sent["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe.startswith(f"{BASE_URL}/unsubscribe/")
    token = read_unsubscribe_token(settings.messaging.signing_key, unsubscribe.rsplit("/", 1)[1])
    assert token is not None and (token.profile_id, token.message_id) == (profile.id, message.id)
    text = next(c["value"] for c in sent["content"] if c["type"] == "text/plain")
    assert "Q-5150" in text and "Boiler service" in text and unsubscribe in text

    row = fresh(session, message)
    assert (row.status, row.provider, row.attempts) == ("sent", "sendgrid", 1)
    assert row.provider_message_id == sent["message_id"] and soon_after(row.sent_at, T0)
    assert row.subject and "Q-5150" in row.subject and row.to_address == "ann@example.com"


def test_sms_carries_a_status_callback_with_the_message_id(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_twilio: FakeTwilio) -> None:
    profile = reachable(phone="+15551239876")
    message = queue(session, profile, channel="sms")
    assert dispatch_due(session_factory, settings=settings, now=T0)["sent"] == 1
    [sent] = fake_twilio.messages
    assert sent["To"] == "+15551239876" and sent["From"] == "+15550000000"
    assert sent["StatusCallback"] == f"{BASE_URL}/webhooks/twilio/status/{message.id}"
    assert "Reply STOP" in sent["Body"]
    assert fresh(session, message).provider_message_id == sent["sid"]


def test_rate_limit_is_retried_no_sooner_than_retry_after(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    message = queue(session, reachable())
    fake_sendgrid.fail_next(429, retry_after=600)
    assert dispatch_due(session_factory, settings=settings, now=T0)["retry"] == 1
    row = fresh(session, message)
    assert (row.status, row.attempts, row.error_code) == ("pending", 1, "429")
    # Longer than the 30 s back-off, counted from the answer (a moment after the run's start).
    assert soon_after(row.next_attempt_at, T0 + dt.timedelta(seconds=600))
    assert dispatch_due(session_factory, settings=settings, now=T0 + dt.timedelta(seconds=599)).claimed == 0
    assert dispatch_due(session_factory, settings=settings, now=row.next_attempt_at)["sent"] == 1
    assert len(fake_sendgrid.requests) == 2 and len(fake_sendgrid.messages) == 1
    assert fresh(session, message).status == "sent"


def test_server_errors_back_off_exponentially_then_give_up(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_twilio: FakeTwilio) -> None:
    message = queue(session, reachable(), channel="sms")
    fake_twilio.fail_next(500, times=MAX_ATTEMPTS)
    now, delays = T0, []
    for _ in range(MAX_ATTEMPTS):
        dispatch_due(session_factory, settings=settings, now=now)
        row = fresh(session, message)
        if row.status != "pending":
            break
        delays.append(row.next_attempt_at - now)
        now = row.next_attempt_at
    assert all(soon_after(now + delay, now + dt.timedelta(seconds=expected))
               for delay, expected in zip(delays[:3], (30, 60, 120), strict=True))
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)
    assert row.status_reason == f"gave up after {MAX_ATTEMPTS} attempts"
    assert len(fake_twilio.requests) == MAX_ATTEMPTS and fake_twilio.messages == []


def test_invalid_address_is_permanent_and_not_retried(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    message = queue(session, reachable(email="gone@example.com"))
    fake_sendgrid.reject_address("gone@example.com")
    assert dispatch_due(session_factory, settings=settings, now=T0)["failed"] == 1
    dispatch_due(session_factory, settings=settings, now=T0 + dt.timedelta(days=1))
    row = fresh(session, message)
    assert (row.status, row.error_code) == ("failed", "400")
    assert "Does not contain a valid address" in (row.status_reason or "")
    assert len(fake_sendgrid.requests) == 1


def test_twilio_21610_withdraws_sms_consent_with_an_audit_entry(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_twilio: FakeTwilio) -> None:
    profile = reachable(phone="+15551230042")
    message = queue(session, profile, channel="sms")
    later = queue(session, profile, channel="sms", category="transactional")
    fake_twilio.reject_number("+15551230042", 21610)
    report = dispatch_due(session_factory, settings=settings, now=T0)
    assert report["failed"] == 1 and report["suppressed"] == 1
    row = fresh(session, message)
    assert (row.status, row.error_code) == ("failed", "21610")
    session.refresh(profile)
    assert profile.sms_consent is False and profile.sms_consent_source == "sms_keyword"
    [change] = consent_changes(session, profile)
    assert (change.channel, change.old_value, change.new_value, change.message_id) == ("sms", True, False,
                                                                                       message.id)
    assert "21610" in change.detail
    assert fresh(session, later).status_reason == "no SMS consent"
    assert len(fake_twilio.requests) == 1


@pytest.mark.parametrize("code", [21211, 21614])
def test_invalid_or_landline_numbers_fail_without_touching_consent(
        code: int, session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_twilio: FakeTwilio) -> None:
    profile = reachable(phone="+15551230043")
    message = queue(session, profile, channel="sms")
    fake_twilio.reject_number("+15551230043", code)
    dispatch_due(session_factory, settings=settings, now=T0)
    dispatch_due(session_factory, settings=settings, now=T0 + dt.timedelta(hours=2))
    assert (fresh(session, message).status, fresh(session, message).error_code) == ("failed", str(code))
    session.refresh(profile)
    assert profile.sms_consent is True and consent_changes(session, profile) == []
    assert len(fake_twilio.requests) == 1


def test_a_timeout_after_the_request_left_is_unknown_and_never_resent(
        session: Session, session_factory: sessionmaker[Session], tmp_path: object, settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    settings = dataclasses.replace(settings, messaging=dataclasses.replace(settings.messaging,
                                                                           provider_timeout=0.3))
    message = queue(session, reachable())
    fake_sendgrid.slow_next(1.0)  # SendGrid takes the message but answers too late
    assert dispatch_due(session_factory, settings=settings, now=T0)["unknown"] == 1
    for hours in (1, 24):
        dispatch_due(session_factory, settings=settings, now=T0 + dt.timedelta(hours=hours))
    row = fresh(session, message)
    assert (row.status, row.error_code) == ("unknown", "no_answer")
    assert len(fake_sendgrid.requests) == 1 and len(fake_sendgrid.messages) == 1


def test_an_unknown_message_without_events_becomes_unconfirmed_and_an_event_still_settles_it(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    settings = dataclasses.replace(settings, messaging=dataclasses.replace(
        settings.messaging, provider_timeout=0.3, unconfirmed_after=dt.timedelta(hours=1)))
    message = queue(session, reachable())
    fake_sendgrid.slow_next(1.0)  # taken, answered too late
    assert dispatch_due(session_factory, settings=settings, now=T0)["unknown"] == 1
    dispatch_due(session_factory, settings=settings, now=T0 + dt.timedelta(minutes=59))
    assert fresh(session, message).status == "unknown"
    dispatch_due(session_factory, settings=settings, now=T0 + dt.timedelta(minutes=61))
    row = fresh(session, message)
    assert row.status == "unconfirmed" and "send it again or close it" in (row.status_reason or "")
    assert len(fake_sendgrid.requests) == 1  # never sent again on its own

    [accepted] = fake_sendgrid.messages  # SendGrid's events find it by the id in custom args
    record_sendgrid_events(session, [sendgrid_event(accepted, "processed")], now=T0 + dt.timedelta(hours=2))
    assert fresh(session, message).status == "sent"


def test_a_dropped_connection_is_unknown_too(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_twilio: FakeTwilio) -> None:
    message = queue(session, reachable(), channel="sms")
    fake_twilio.drop_next()
    assert dispatch_due(session_factory, settings=settings, now=T0)["unknown"] == 1
    dispatch_due(session_factory, settings=settings, now=T0 + dt.timedelta(hours=1))
    assert fresh(session, message).status == "unknown" and len(fake_twilio.requests) == 1


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_no_connection_at_all_is_retried(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid, fake_twilio: FakeTwilio) -> None:
    down = f"http://127.0.0.1:{_closed_port()}"
    unreachable = dataclasses.replace(settings, messaging=dataclasses.replace(
        settings.messaging, sendgrid_host=down, twilio_api_url=down))
    email, sms = queue(session, reachable()), queue(session, reachable(), channel="sms")
    assert dispatch_due(session_factory, settings=unreachable, now=T0)["retry"] == 2
    assert {fresh(session, email).error_code, fresh(session, sms).error_code} == {"connect"}
    report = dispatch_due(session_factory, settings=settings, now=T0 + dt.timedelta(minutes=1))
    assert report["sent"] == 2 and len(fake_sendgrid.messages) == len(fake_twilio.messages) == 1


def test_one_rejected_recipient_never_stops_the_batch(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    good = [queue(session, reachable()) for _ in range(3)]
    bad = queue(session, reachable(email="bad@example.com"))
    more = [queue(session, reachable()) for _ in range(3)]
    fake_sendgrid.reject_address("bad@example.com")
    report = dispatch_due(session_factory, settings=settings, now=T0)
    assert report["sent"] == 6 and report["failed"] == 1
    assert fresh(session, bad).status == "failed"
    assert all(fresh(session, m).status == "sent" for m in good + more)


def test_twilio_rate_limit_honours_retry_after(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_twilio: FakeTwilio) -> None:
    message = queue(session, reachable(), channel="sms")
    fake_twilio.fail_next(429, retry_after=120)
    assert dispatch_due(session_factory, settings=settings, now=T0)["retry"] == 1
    row = fresh(session, message)
    assert row.error_code == "20429" and soon_after(row.next_attempt_at, T0 + dt.timedelta(seconds=120))

"""What holds a message back at dispatch time: consent, bounces, quiet hours in the profile's own time
zone, frequency caps across workflows, expiry and templates that cannot render."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.config import FrequencyCap, SendWindow, Settings
from crm_segments.messages.dispatch import dispatch_due
from crm_segments.messages.send_windows import next_opening, zone
from tests.factories import UserFactory
from tests.fakes import FakeSendGrid, FakeTwilio

from .conftest import T0, provider_settings
from .helpers import fresh, queue, reachable, soon_after

pytestmark = pytest.mark.usefixtures("backend")


def test_no_consent_no_address_or_bounced_address_means_nothing_is_sent(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid, fake_twilio: FakeTwilio) -> None:
    no_email_consent = queue(session, reachable(email_consent=False))
    no_sms_consent = queue(session, reachable(sms_consent=False), channel="sms")
    no_phone = queue(session, reachable(phone=None), channel="sms")
    bounced = queue(session, reachable(email_bounced_at=T0 - dt.timedelta(days=3)))
    report = dispatch_due(session_factory, settings=settings, now=T0)
    assert report["suppressed"] == 4 and report.claimed == 4
    reasons = {m.id: (fresh(session, m).status, fresh(session, m).status_reason)
               for m in (no_email_consent, no_sms_consent, no_phone, bounced)}
    assert reasons == {
        no_email_consent.id: ("suppressed", "no email consent"),
        no_sms_consent.id: ("suppressed", "no SMS consent"),
        no_phone.id: ("suppressed", "no phone number"),
        bounced.id: ("suppressed", "email address bounced or reported spam"),
    }
    assert fake_sendgrid.requests == [] and fake_twilio.requests == []
    assert fresh(session, no_email_consent).attempts == 0


def test_a_test_send_to_a_user_needs_no_profile_consent(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    user = UserFactory(email="seller@example.com")
    message = queue(session, reachable(email_consent=False), category="test", recipient_user_id=user.id,
                    to_address=user.email)
    assert dispatch_due(session_factory, settings=settings, now=T0)["sent"] == 1
    assert fake_sendgrid.recipients() == ["seller@example.com"]
    assert "headers" not in fake_sendgrid.messages[0]  # no unsubscribe link for a test send
    assert fresh(session, message).status == "sent"


def test_sms_waits_for_the_window_in_the_profiles_own_time_zone(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_twilio: FakeTwilio) -> None:
    # T0 is 15:00 UTC: 08:00 in Los Angeles (window open), 00:00 in Tokyo (closed until 08:00 JST).
    la = queue(session, reachable(time_zone="America/Los_Angeles"), channel="sms")
    tokyo = queue(session, reachable(time_zone="Asia/Tokyo"), channel="sms")
    report = dispatch_due(session_factory, settings=settings, now=T0)
    assert report["sent"] == 1 and report["deferred"] == 1
    waiting = fresh(session, tokyo)
    assert waiting.status == "pending" and waiting.attempts == 0
    assert waiting.next_attempt_at == dt.datetime(2030, 6, 3, 23, 0, tzinfo=dt.UTC)  # 08:00 JST
    assert waiting.status_reason == "quiet hours until 08:00 local time"
    assert dispatch_due(session_factory, settings=settings, now=T0 + dt.timedelta(hours=7)).claimed == 0
    assert dispatch_due(session_factory, settings=settings, now=waiting.next_attempt_at)["sent"] == 1
    assert [m["To"] for m in fake_twilio.messages] == [fresh(session, la).to_address, waiting.to_address]


def test_window_edges_overnight_windows_and_unknown_zones() -> None:
    window = SendWindow(dt.time(8), dt.time(21))
    new_york = zone("America/New_York", "UTC")
    at = dt.datetime(2030, 6, 3, 12, 0, tzinfo=new_york)
    assert next_opening(at.replace(hour=8), window, new_york) is None
    assert next_opening(at.replace(hour=21), window, new_york) == dt.datetime(2030, 6, 4, 8, tzinfo=new_york)
    assert next_opening(at.replace(hour=7, minute=59), window, new_york) == at.replace(hour=8, minute=0)
    overnight = SendWindow(dt.time(22), dt.time(6))
    assert next_opening(at.replace(hour=23), overnight, new_york) is None
    assert next_opening(at.replace(hour=12), overnight, new_york) == at.replace(hour=22)
    assert zone("Not/AZone", "Europe/Paris").key == "Europe/Paris"
    assert next_opening(at, None, new_york) is None


def test_frequency_cap_across_workflows_with_transactional_exempt(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    profile = reachable()
    first = queue(session, profile, workflow_id=1)
    second = queue(session, profile, workflow_id=2)
    receipt = queue(session, profile, category="transactional", template="transactional/quote_sent",
                    context={})
    report = dispatch_due(session_factory, settings=settings, now=T0)
    assert report["sent"] == 1 and report["deferred"] == 1 and report["failed"] == 1
    assert fresh(session, receipt).status == "failed"  # the quote template needs a quote: not a blank
    assert "quote" in (fresh(session, receipt).status_reason or "")
    capped = fresh(session, second)
    assert (capped.status, capped.status_reason) == ("pending", "frequency cap reached")
    # A day after the first one was handed over (a moment after the run's start).
    assert soon_after(capped.next_attempt_at, T0 + dt.timedelta(days=1))
    assert fresh(session, first).status == "sent"
    assert dispatch_due(session_factory, settings=settings, now=capped.next_attempt_at)["sent"] == 1
    assert len(fake_sendgrid.messages) == 2


def test_transactional_messages_are_not_capped(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    profile = reachable()
    queue(session, profile)
    for _ in range(2):
        queue(session, profile, category="transactional")
    assert dispatch_due(session_factory, settings=settings, now=T0)["sent"] == 3


def test_caps_and_windows_are_settings(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    loose = dataclasses.replace(settings, messaging=dataclasses.replace(
        settings.messaging, email_frequency_cap=FrequencyCap(3, dt.timedelta(days=7)),
        email_send_window=SendWindow(dt.time(9), dt.time(17))))
    profile = reachable(time_zone="Europe/London")  # T0 is 16:00 in London
    messages = [queue(session, profile) for _ in range(4)]
    assert dispatch_due(session_factory, settings=loose, now=T0)["sent"] == 3
    assert soon_after(fresh(session, messages[3]).next_attempt_at, T0 + dt.timedelta(days=7))
    late = queue(session, reachable(time_zone="Europe/London"))
    dispatch_due(session_factory, settings=loose, now=T0 + dt.timedelta(hours=1))  # 17:00 in London
    assert fresh(session, late).next_attempt_at == dt.datetime(2030, 6, 4, 8, 0, tzinfo=dt.UTC)


def test_expired_messages_are_skipped(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    message = queue(session, reachable(), expires_at=T0 - dt.timedelta(minutes=1))
    assert dispatch_due(session_factory, settings=settings, now=T0)["skipped"] == 1
    assert fresh(session, message).status_reason == "expired before it could be sent"
    assert fake_sendgrid.requests == []


def test_local_outbox_writes_one_file_per_message(
        session: Session, session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    local = provider_settings(tmp_path)
    email = queue(session, reachable(email="ann@example.com"))
    sms = queue(session, reachable(), channel="sms")
    assert dispatch_due(session_factory, settings=local, now=T0)["sent"] == 2
    eml = (tmp_path / "outbox" / f"message-{email.id:08d}.eml").read_text()
    assert "To: ann@example.com" in eml and "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in eml
    assert "Welcome" in eml
    txt = (tmp_path / "outbox" / f"message-{sms.id:08d}.txt").read_text()
    assert txt.startswith(f"To: {fresh(session, sms).to_address}\n") and "Reply STOP" in txt
    assert (fresh(session, email).provider, fresh(session, email).provider_message_id) == (
        "local", f"local-{email.id}")
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == sorted(
        [f"message-{email.id:08d}.eml", f"message-{sms.id:08d}.txt"])

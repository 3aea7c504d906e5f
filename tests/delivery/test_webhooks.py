"""Webhooks and unsubscribe links through the app: signatures verified, replays and stale requests
refused or ignored, statuses and consent updated with audit entries."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crm_segments import create_app
from crm_segments.delivery import events as delivery_events
from crm_segments.delivery.links import status_callback_url, unsubscribe_token, unsubscribe_url
from crm_segments.delivery.sendgrid_events import record_sendgrid_events
from crm_segments.models import Message, MessageEvent, Profile
from crm_segments.state import get_state
from tests.fakes.webhooks import SendGridSigner, sendgrid_event, twilio_signature
from tests.messages.conftest import BASE_URL, T0
from tests.messages.helpers import consent_changes, fresh, queue, reachable
from tests.web.conftest import login

pytestmark = pytest.mark.usefixtures("backend")
SECRET = "test-secret-key-0123456789"
TWILIO_TOKEN = "twilio-webhook-token"


@pytest.fixture
def app(database_url: str, session_factory: sessionmaker[Session], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, sendgrid_signer: SendGridSigner) -> Flask:
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    app = create_app({
        "TESTING": True, "SECRET_KEY": SECRET, "WTF_CSRF_ENABLED": True,
        "CRM_SEGMENTS_DATABASE_URL": database_url, "CRM_SEGMENTS_OUTBOX_DIR": str(tmp_path / "outbox"),
        "CRM_SEGMENTS_PUBLIC_URL": BASE_URL,
        "CRM_SEGMENTS_SENDGRID_WEBHOOK_PUBLIC_KEY": sendgrid_signer.public_key,
        "CRM_SEGMENTS_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
    })
    get_state(app).session_factory = session_factory
    return app


def _sent(session: Session, profile: Profile, *, channel: str = "email",
          provider_id: str = "msg-1") -> Message:
    message = queue(session, profile, channel=channel)
    message.status, message.provider_message_id = "sent", provider_id
    message.provider = "sendgrid" if channel == "email" else "twilio"
    session.flush()
    return message


def _accepted(message: Message) -> dict[str, Any]:
    """The request SendGrid took for ``message``, as the fake records it."""
    return {"message_id": message.provider_message_id, "personalizations": [
        {"to": [{"email": message.to_address or "x@example.com"}],
         "custom_args": {"crm_message_id": str(message.id)}}]}


def _post_events(client: FlaskClient, signer: SendGridSigner, events: list[dict[str, Any]],
                 **kwargs: Any) -> Any:
    body, headers = signer.request(events, **kwargs)
    return client.post("/webhooks/sendgrid/events", data=body, headers=headers)


def _events(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(MessageEvent)) or 0)


def test_sendgrid_events_move_the_message_forward(client: FlaskClient, session: Session,
                                                   sendgrid_signer: SendGridSigner) -> None:
    message = _sent(session, reachable())
    accepted = _accepted(message)
    now = int(time.time())
    events = [sendgrid_event(accepted, "processed", timestamp=now - 30),
              sendgrid_event(accepted, "delivered", timestamp=now - 20),
              sendgrid_event(accepted, "open", timestamp=now - 10),
              sendgrid_event(accepted, "delivered", timestamp=now - 5)]  # late: must not move it back
    response = _post_events(client, sendgrid_signer, events)
    assert response.status_code == 200 and response.json == {"recorded": 4, "duplicates": 0, "ignored": 0}
    row = fresh(session, message)
    assert row.status == "opened"
    assert row.delivered_at == dt.datetime.fromtimestamp(now - 20, dt.UTC)
    assert row.opened_at == dt.datetime.fromtimestamp(now - 10, dt.UTC)
    click = sendgrid_event(accepted, "click", url="https://example.com/offer")
    assert _post_events(client, sendgrid_signer, [click]).json["recorded"] == 1
    assert fresh(session, message).status == "clicked"


def test_forged_tampered_and_stale_requests_get_403_and_change_nothing(
        client: FlaskClient, session: Session, sendgrid_signer: SendGridSigner) -> None:
    message = _sent(session, reachable())
    events = [sendgrid_event(_accepted(message), "delivered")]
    forged = _post_events(client, SendGridSigner(), events)  # signed with someone else's key
    body, headers = sendgrid_signer.request(events)
    tampered = client.post("/webhooks/sendgrid/events", headers=headers,
                           data=body.replace('"delivered"', '"spamreport"'))
    stale = _post_events(client, sendgrid_signer, events, timestamp=int(time.time()) - 3600)
    unsigned = client.post("/webhooks/sendgrid/events", data=json.dumps(events),
                           headers={"Content-Type": "application/json"})
    assert [r.status_code for r in (forged, tampered, stale, unsigned)] == [403, 403, 403, 403]
    assert "too old" in stale.json["error"]
    assert fresh(session, message).status == "sent" and _events(session) == 0


def test_a_replayed_event_changes_nothing(client: FlaskClient, session: Session,
                                          sendgrid_signer: SendGridSigner) -> None:
    profile = reachable()
    message = _sent(session, profile)
    unsubscribe = sendgrid_event(_accepted(message), "unsubscribe")
    body, headers = sendgrid_signer.request([unsubscribe])
    assert client.post("/webhooks/sendgrid/events", data=body, headers=headers).json["recorded"] == 1
    session.refresh(profile)
    profile.email_consent = True  # the person opted in again afterwards
    session.flush()
    replay = client.post("/webhooks/sendgrid/events", data=body, headers=headers)
    assert replay.status_code == 403 and "replayed" in replay.json["error"]
    session.refresh(profile)
    assert profile.email_consent is True and len(consent_changes(session, profile)) == 1
    assert _events(session) == 1
    # A new batch that repeats one event (SendGrid's own retry of a partly seen batch) is accepted.
    opened = sendgrid_event(_accepted(message), "open")
    mixed_body, mixed_headers = sendgrid_signer.request([unsubscribe, opened])
    mixed = client.post("/webhooks/sendgrid/events", data=mixed_body, headers=mixed_headers)
    assert mixed.status_code == 200 and mixed.json == {"recorded": 1, "duplicates": 1, "ignored": 0}
    assert _events(session) == 2


def test_a_bounce_stops_email_to_the_address_and_a_spam_report_withdraws_consent(
        client: FlaskClient, session: Session, sendgrid_signer: SendGridSigner) -> None:
    bouncing, complaining = reachable(), reachable()
    first, second = _sent(session, bouncing, provider_id="a"), _sent(session, complaining, provider_id="b")
    events = [sendgrid_event(_accepted(first), "bounce", type="bounce", reason="550 5.1.1 no such user"),
              sendgrid_event(_accepted(second), "spamreport")]
    assert _post_events(client, sendgrid_signer, events).json["recorded"] == 2
    session.refresh(bouncing)
    session.refresh(complaining)
    assert bouncing.email_bounced_at is not None and bouncing.email_consent is True
    assert (fresh(session, first).status, fresh(session, first).status_reason) == (
        "bounced", "550 5.1.1 no such user")
    assert complaining.email_consent is False and complaining.email_bounced_at is None
    [change] = consent_changes(session, complaining)
    assert (change.source, change.detail, change.message_id) == (
        "complaint", "sendgrid spamreport", second.id)
    assert change.actor == f"{second.to_address or 'x@example.com'} via SendGrid"
    assert complaining.email_consent_source == "webhook"  # the profile keeps the door it came in by
    assert fresh(session, second).status == "spam_report"
    [bounce] = consent_changes(session, bouncing)  # consent unchanged, and in the history
    assert (bounce.source, bounce.old_value, bounce.new_value, bounce.message_id) == (
        "bounce", True, True, first.id)
    assert "550 5.1.1 no such user" in bounce.detail


def test_an_unknown_message_is_settled_by_its_events(client: FlaskClient, session: Session,
                                                     sendgrid_signer: SendGridSigner) -> None:
    message = queue(session, reachable())
    message.status, message.provider = "unknown", "sendgrid"
    session.flush()
    accepted = {**_accepted(message), "message_id": "sg-late-id"}
    assert _post_events(client, sendgrid_signer, [sendgrid_event(accepted, "processed")]).status_code == 200
    row = fresh(session, message)
    assert (row.status, row.provider_message_id) == ("sent", "sg-late-id") and row.sent_at is not None


def test_a_request_of_many_events_is_recorded_in_chunks_each_event_once(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery_events, "EVENT_CHUNK", 2)  # chunk edges inside a small request
    unknown = [queue(session, reachable()) for _ in range(3)]
    for message in unknown:
        message.status, message.provider = "unknown", "sendgrid"
    bouncing = reachable()
    sent = _sent(session, bouncing, provider_id="sg-b")
    events = [sendgrid_event({**_accepted(m), "message_id": f"sg-{m.id}"}, "processed") for m in unknown]
    bounce = sendgrid_event(_accepted(sent), "bounce", type="bounce", reason="550 no such user")
    items = [events[0], events[1], events[0], bounce, events[2], bounce, {"event": "nonsense"}]
    report = record_sendgrid_events(session, items, now=T0)
    assert (report.recorded, report.duplicates, report.ignored) == (4, 2, 1)
    assert _events(session) == 4
    assert [fresh(session, m).status for m in unknown] == ["sent"] * 3
    assert [fresh(session, m).provider_message_id for m in unknown] == [f"sg-{m.id}" for m in unknown]
    assert fresh(session, sent).status == "bounced" and len(consent_changes(session, bouncing)) == 1
    again = record_sendgrid_events(session, items[:3], now=T0)
    assert (again.recorded, again.duplicates) == (0, 3) and _events(session) == 4


def _twilio_post(client: FlaskClient, path: str, params: dict[str, str], *, token: str = TWILIO_TOKEN) -> Any:
    signature = twilio_signature(token, BASE_URL + path, params)
    return client.post(path, data=urlencode(params), headers={
        "X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"})


def test_twilio_status_callbacks(client: FlaskClient, session: Session) -> None:
    message = _sent(session, reachable(), channel="sms", provider_id="SM" + "1" * 32)
    path = status_callback_url("", message.id)
    delivered = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered", "AccountSid": "AC1"}
    assert _twilio_post(client, path, delivered).json == {"recorded": True}
    assert _twilio_post(client, path, delivered).json == {"recorded": False}  # a repeat
    forged = _twilio_post(client, path, {**delivered, "MessageStatus": "failed"}, token="wrong")
    assert forged.status_code == 403
    other = {"MessageSid": "SM" + "2" * 32, "MessageStatus": "failed"}  # not this message's sid
    assert _twilio_post(client, path, other).json == {"recorded": True}
    row = fresh(session, message)
    assert row.status == "delivered" and row.delivered_at is not None


def test_an_unconfirmed_sms_is_settled_by_its_status_callback(client: FlaskClient, session: Session) -> None:
    message = queue(session, reachable(), channel="sms")
    message.status, message.provider = "unconfirmed", "twilio"  # no answer, and no callback for a day
    session.flush()
    sid = "SM" + "4" * 32  # the callback URL names the message: its sid is learnt from it
    queued = {"MessageSid": sid, "MessageStatus": "sent"}
    assert _twilio_post(client, status_callback_url("", message.id), queued).json == {"recorded": True}
    row = fresh(session, message)
    assert (row.status, row.provider_message_id) == ("sent", sid) and row.sent_at is not None


def test_twilio_failure_with_21610_withdraws_sms_consent(client: FlaskClient, session: Session) -> None:
    profile = reachable()
    message = _sent(session, profile, channel="sms", provider_id="SM" + "3" * 32)
    params = {"MessageSid": "SM" + "3" * 32, "MessageStatus": "failed", "ErrorCode": "21610"}
    assert _twilio_post(client, status_callback_url("", message.id), params).status_code == 200
    session.refresh(profile)
    assert profile.sms_consent is False and fresh(session, message).status == "failed"


def test_inbound_stop_start_help(client: FlaskClient, session: Session) -> None:
    profile = reachable(phone="+15557770001")
    path = "/webhooks/twilio/inbound"

    def reply(sid: str, body: str) -> Any:
        return _twilio_post(client, path, {"MessageSid": sid, "From": "+15557770001", "To": "+15550000000",
                                           "Body": body})

    stop = reply("SM" + "a" * 32, " stop ")
    assert stop.status_code == 200 and stop.mimetype == "text/xml"
    session.refresh(profile)
    assert profile.sms_consent is False and profile.sms_consent_source == "sms_keyword"
    reply("SM" + "b" * 32, "HELP")
    reply("SM" + "c" * 32, "Stop by tomorrow?")  # not a keyword
    session.refresh(profile)
    assert profile.sms_consent is False
    reply("SM" + "d" * 32, "START")
    replayed = reply("SM" + "a" * 32, "STOP")  # the first STOP replayed: refused, changes nothing
    assert replayed.status_code == 403
    session.refresh(profile)
    assert profile.sms_consent is True
    assert [(c.old_value, c.new_value, c.detail) for c in consent_changes(session, profile)] == [
        (True, False, "replied STOP"), (False, True, "replied START")]
    forged = _twilio_post(client, path, {"MessageSid": "SM" + "e" * 32, "From": "+15557770001",
                                         "Body": "START"}, token="wrong")
    assert forged.status_code == 403


def test_unsubscribe_link_confirm_page_and_one_click(client: FlaskClient, session: Session) -> None:
    profile = reachable()
    message = _sent(session, profile)
    token = unsubscribe_token(SECRET, profile_id=profile.id, message_id=message.id)
    path = unsubscribe_url("", token)
    page = client.get(path)
    assert page.status_code == 200 and "Stop receiving emails" in page.get_data(as_text=True)
    session.refresh(profile)
    assert profile.email_consent is True  # a GET (e.g. a link scanner) changes nothing
    done = client.post(path, data={"List-Unsubscribe": "One-Click"})  # no CSRF token needed
    assert done.status_code == 200 and "You are unsubscribed" in done.get_data(as_text=True)
    session.refresh(profile)
    assert profile.email_consent is False and profile.email_consent_source == "unsubscribe_link"
    assert fresh(session, message).status == "unsubscribed"
    assert len(consent_changes(session, profile)) == 1
    assert client.post(path).status_code == 200 and len(consent_changes(session, profile)) == 1
    assert "already unsubscribed" in client.get(path).get_data(as_text=True)


def test_a_forged_unsubscribe_token_gets_403(client: FlaskClient, session: Session) -> None:
    profile = reachable()
    forged = unsubscribe_token("another-secret-key-000000", profile_id=profile.id, message_id=None)
    assert client.get(unsubscribe_url("", forged)).status_code == 403
    assert client.post(unsubscribe_url("", forged)).status_code == 403
    assert client.post("/unsubscribe/not-a-token").status_code == 403
    session.refresh(profile)
    assert profile.email_consent is True and consent_changes(session, profile) == []


def test_outbox_page_lists_local_messages(client: FlaskClient, session: Session) -> None:
    from tests.factories import UserFactory

    user = UserFactory(email="viewer@example.com")
    message = queue(session, reachable())
    message.status, message.provider, message.sent_at = "sent", "local", dt.datetime.now(dt.UTC)
    message.subject, message.text_body, message.to_address = "Welcome, Ann!", "Hi Ann", "ann@example.com"
    session.flush()
    assert client.get("/outbox").status_code == 302  # sign in first
    login(client, user.email)
    page = client.get("/outbox").get_data(as_text=True)
    assert "Welcome, Ann!" in page and "ann@example.com" in page
    assert "Welcome, Ann!" not in client.get("/outbox?channel=sms").get_data(as_text=True)


def test_the_scheduled_job_sends_with_links_under_the_public_url(app: Flask, session: Session) -> None:
    from crm_segments.messages.jobs import scheduled_dispatch
    from crm_segments.scheduler.jobs import JOBS

    job = next(j for j in JOBS if j.id == "messages.dispatch_due")
    assert job.target is scheduled_dispatch
    now = dt.datetime.now(dt.UTC)
    message = queue(session, reachable(time_zone="UTC"), now=now)
    scheduled_dispatch(get_state(app), now=now)  # no app context: the state is all a job needs
    row = fresh(session, message)
    assert (row.status, row.provider) == ("sent", "local")
    outbox = Path(app.config["CRM_SEGMENTS_OUTBOX_DIR"]) / f"message-{message.id:08d}.eml"
    mail = email.message_from_bytes(outbox.read_bytes(), policy=email.policy.default)
    assert str(mail["List-Unsubscribe"]).startswith(f"<{BASE_URL}/unsubscribe/")

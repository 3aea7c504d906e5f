"""A paused channel as people see it: the banner on every admin page with the provider's error and a
Resume button (POST, CSRF, admins only), the message log, the API and ``send-due``."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

import crm_segments.models  # noqa: F401  (fills Base.metadata)
from crm_segments.accounts import users
from crm_segments.config import Settings
from crm_segments.messages.dispatch import dispatch_due
from crm_segments.models import ChannelPause, Message
from tests.factories import UserFactory
from tests.fakes import FakeSendGrid
from tests.signed_in import csrf_token_from, login

from .conftest import T0
from .helpers import fresh, queue, reachable

pytestmark = pytest.mark.usefixtures("backend")

REFUSAL = "The provided authorization grant is invalid, expired, or revoked"


def _paused_by_a_revoked_key(session: Session, session_factory: sessionmaker[Session], settings: Settings,
                             fake: FakeSendGrid, count: int = 3) -> list[Message]:
    messages = [queue(session, reachable()) for _ in range(count)]
    fake.api_key = "SG.rotated"
    report = dispatch_due(session_factory, settings=settings, now=T0, workers=2)
    assert (report["failed"], len(fake.requests)) == (0, 1)
    fake.api_key = settings.messaging.sendgrid_api_key or ""
    return messages


def _is_paused(session: Session, channel: str = "email") -> bool:
    session.expire_all()
    pause = session.get(ChannelPause, channel)
    return pause is not None and pause.paused_at is not None


def test_every_admin_page_shows_the_banner_and_resume_sends_the_queue_once(
        admin_client: FlaskClient, session: Session, session_factory: sessionmaker[Session],
        settings: Settings, fake_sendgrid: FakeSendGrid) -> None:
    assert 'data-channel="email"' not in admin_client.get("/profiles").get_data(as_text=True)
    messages = _paused_by_a_revoked_key(session, session_factory, settings, fake_sendgrid)
    for path in ("/profiles", "/segments", "/workflows", "/templates"):
        page = admin_client.get(path)
        text = html.unescape(page.get_data(as_text=True))
        assert page.status_code == 200 and 'data-channel="email"' in text, path
        assert "Email sending is paused" in text and REFUSAL in text and "3 messages wait" in text
        assert "/channels/email/resume" in text and "Resume email" in text

    page = admin_client.get("/segments")
    resumed = admin_client.post("/channels/email/resume",
                                data={"csrf_token": csrf_token_from(page), "next": "/segments"})
    assert resumed.status_code == 303 and resumed.headers["Location"].endswith("/segments")
    assert not _is_paused(session)
    after = admin_client.get("/segments").get_data(as_text=True)
    assert 'data-channel="email"' not in after and "Email sending resumed" in html.unescape(after)

    assert dispatch_due(session_factory, settings=settings, now=T0 + dt.timedelta(minutes=1))["sent"] == 3
    assert [fresh(session, m).status for m in messages] == ["sent"] * 3
    assert len(fake_sendgrid.messages) == 3  # the refused request carried nothing


def test_resume_needs_an_admin_and_a_csrf_token(
        client: FlaskClient, session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    _paused_by_a_revoked_key(session, session_factory, settings, fake_sendgrid, count=1)
    sales = UserFactory(email="sam@example.com", role="sales")
    assert login(client, sales.email).status_code == 302
    messages_page = client.get("/messages")
    text = html.unescape(messages_page.get_data(as_text=True))
    assert "Email sending is paused" in text and REFUSAL in text  # the log says so to sales too
    assert "/channels/email/resume" not in text
    assert 'data-channel="email"' not in client.get("/profiles").get_data(as_text=True)
    token = csrf_token_from(messages_page)
    assert client.post("/channels/email/resume", data={"csrf_token": token}).status_code == 403
    assert _is_paused(session)

    client.post("/logout", data={"csrf_token": token})
    admin = UserFactory(email="ada@example.com", role="admin")
    assert login(client, admin.email).status_code == 302
    assert client.post("/channels/email/resume", data={}).status_code == 400  # no CSRF token
    assert _is_paused(session)


def test_a_held_message_page_says_why_it_waits(
        sales_client: FlaskClient, session: Session, session_factory: sessionmaker[Session],
        settings: Settings, fake_sendgrid: FakeSendGrid) -> None:
    [message] = _paused_by_a_revoked_key(session, session_factory, settings, fake_sendgrid, count=1)
    text = html.unescape(sales_client.get(f"/messages/{message.id}").get_data(as_text=True))
    assert "Email sending is paused (SendGrid refused the credentials)" in text
    assert "Email is paused: the provider refused the credentials" in text  # its status reason


def test_the_api_shows_and_resumes_a_paused_channel(
        client: FlaskClient, session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid) -> None:
    admin_key = users.create_api_key(session=session, email=UserFactory(role="admin").email, name="ops")[1]
    sales_key = users.create_api_key(session=session, email=UserFactory(role="sales").email, name="s")[1]
    admin = {"Authorization": f"Bearer {admin_key}"}
    _paused_by_a_revoked_key(session, session_factory, settings, fake_sendgrid, count=2)

    listed = client.get("/api/v1/channels", headers=admin)
    assert listed.status_code == 200
    email, sms = listed.get_json()["items"]
    assert (email["channel"], email["paused"], email["queued"]) == ("email", True, 2)
    assert email["provider"] == "sendgrid"
    assert REFUSAL in email["error"] and email["error_code"] == "401" and email["paused_at"]
    assert (sms["channel"], sms["paused"], sms["error"]) == ("sms", False, None)

    assert client.get("/api/v1/channels", headers={"Authorization": f"Bearer {sales_key}"}).status_code == 403
    assert client.post("/api/v1/channels/email/resume",
                       headers={"Authorization": f"Bearer {sales_key}"}).status_code == 403
    assert _is_paused(session)
    unknown = client.post("/api/v1/channels/fax/resume", headers=admin)
    assert unknown.status_code == 404 and "fax" in unknown.get_json()["error"]["message"]

    resumed = client.post("/api/v1/channels/email/resume", headers=admin)
    assert resumed.status_code == 200
    assert (resumed.get_json()["paused"], resumed.get_json()["queued"]) == (False, 2)
    assert not _is_paused(session)

    spec = client.get("/api/v1/openapi.json").get_json()
    assert {"/channels", "/channels/{channel}/resume"} <= set(spec["paths"])
    assert "admin" in spec["paths"]["/channels/{channel}/resume"]["post"]["description"]

"""Consent changed by the recipients themselves: SMS keywords (STOP, START, HELP) act on the profiles
whose number texted, START gives back only what a STOP withdrew; the unsubscribe link asks on GET and
HEAD and acts only on POST (the page's button or a mailbox's RFC 8058 one-click). Each change writes a
consent history row with source, time and actor."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from crm_segments import create_app
from crm_segments.delivery.links import status_callback_url, unsubscribe_token, unsubscribe_url
from crm_segments.models import Profile
from crm_segments.state import get_state
from tests.factories import ProfileFactory
from tests.fakes.webhooks import twilio_signature
from tests.messages.conftest import BASE_URL
from tests.messages.helpers import consent_changes, queue, reachable

pytestmark = pytest.mark.usefixtures("backend")
SECRET = "test-secret-key-0123456789"
TOKEN = "twilio-webhook-token"
NUMBER = "+15557770100"
INBOUND = "/webhooks/twilio/inbound"
GIVEN_AT = dt.datetime(2029, 3, 1, 9, 30, tzinfo=dt.UTC)
_sids = itertools.count(1)


def _app(database_url: str, session_factory: sessionmaker[Session], tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch, **config: Any) -> Flask:
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    app = create_app({"TESTING": True, "SECRET_KEY": SECRET, "CRM_SEGMENTS_DATABASE_URL": database_url,
                      "CRM_SEGMENTS_OUTBOX_DIR": str(tmp_path / "outbox"),
                      "CRM_SEGMENTS_PUBLIC_URL": BASE_URL, "CRM_SEGMENTS_TWILIO_AUTH_TOKEN": TOKEN, **config})
    get_state(app).session_factory = session_factory
    return app


@pytest.fixture
def app(database_url: str, session_factory: sessionmaker[Session], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Flask:
    return _app(database_url, session_factory, tmp_path, monkeypatch)


def _text(client: FlaskClient, body: str, *, sender: str = NUMBER, **extra: str) -> Any:
    params = {"MessageSid": f"SM{next(_sids):032d}", "From": sender, "To": "+15550000000", "Body": body,
              **extra}
    return client.post(INBOUND, data=urlencode(params), headers={
        "X-Twilio-Signature": twilio_signature(TOKEN, BASE_URL + INBOUND, params),
        "Content-Type": "application/x-www-form-urlencoded"})


def _consenting(**values: Any) -> Profile:
    """A profile that gave SMS consent on a web form on GIVEN_AT."""
    return ProfileFactory(**{"phone": NUMBER, "sms_consent": True, "sms_consent_source": "form",
                             "sms_consent_at": GIVEN_AT, **values})


def _sms(session: Session, profile: Profile) -> tuple[bool, str | None, dt.datetime | None]:
    session.refresh(profile)
    return profile.sms_consent, profile.sms_consent_source, profile.sms_consent_at


def test_stop_withdraws_every_profile_with_the_number_and_start_restores_only_what_it_withdrew(
        client: FlaskClient, session: Session) -> None:
    household = _consenting()
    never = ProfileFactory(phone=NUMBER)  # shares the number, never consented
    elsewhere = _consenting(phone="+15557770199")
    assert _text(client, "Stop").status_code == 200
    assert _sms(session, household)[:2] == (False, "sms_keyword")
    assert _sms(session, never) == (False, None, None) and consent_changes(session, never) == []
    assert _sms(session, elsewhere)[0] is True
    [stop] = consent_changes(session, household)
    assert (stop.old_value, stop.new_value, stop.source, stop.actor, stop.detail) == (
        True, False, "sms_keyword", NUMBER, "replied STOP")
    assert (stop.previous_source, stop.previous_at) == ("form", GIVEN_AT)

    _text(client, "start")
    # The consent given on the form comes back as it was; the one who never consented stays out.
    assert _sms(session, household) == (True, "form", GIVEN_AT)
    assert _sms(session, never) == (False, None, None) and consent_changes(session, never) == []
    stop_row, start = consent_changes(session, household)
    assert (start.old_value, start.new_value, start.source, start.actor, start.restores_id) == (
        False, True, "sms_keyword", NUMBER, stop_row.id)
    assert start.detail == "replied START" and start.previous_source == "sms_keyword"


def test_start_does_not_give_back_consent_withdrawn_another_way(client: FlaskClient,
                                                                session: Session) -> None:
    unsubscribed = _consenting(sms_consent=False, sms_consent_source="unsubscribe_link")
    withdrawn_by_staff = _consenting(sms_consent=False, sms_consent_source="ui")
    _text(client, "UNSTOP")
    assert _sms(session, unsubscribed)[:2] == (False, "unsubscribe_link")
    assert _sms(session, withdrawn_by_staff)[:2] == (False, "ui")
    assert consent_changes(session, unsubscribed) == consent_changes(session, withdrawn_by_staff) == []


@pytest.mark.parametrize("body", ["YES", "y", "Stop by tomorrow?", "please stop", "OPTIN"])
def test_other_words_change_nothing(client: FlaskClient, session: Session, body: str) -> None:
    stopped = _consenting()
    _text(client, "STOPALL")
    assert _sms(session, stopped)[0] is False
    reply = _text(client, body)
    assert reply.status_code == 200 and "<Message>" not in reply.get_data(as_text=True)
    assert _sms(session, stopped)[0] is False and len(consent_changes(session, stopped)) == 1


@pytest.mark.parametrize("word", ["STOP", "stopall", "Unsubscribe", "CANCEL", "end", "QUIT", "STOP!"])
def test_every_opt_out_keyword_withdraws(client: FlaskClient, session: Session, word: str) -> None:
    profile = _consenting()
    _text(client, word)
    assert _sms(session, profile)[0] is False


def test_advanced_opt_out_names_the_keyword(client: FlaskClient, session: Session) -> None:
    """Twilio's Advanced Opt-Out sends OptOutType for the account's own keywords (here YES as opt-in)."""
    profile = _consenting()
    _text(client, "ARRET", OptOutType="STOP")
    assert _sms(session, profile)[0] is False
    _text(client, "YES", OptOutType="START")
    assert _sms(session, profile) == (True, "form", GIVEN_AT)
    # Twilio answered HELP itself: no second answer from here.
    assert "<Message>" not in _text(client, "AIDE", OptOutType="HELP").get_data(as_text=True)


def test_help_is_answered_with_the_configured_text(client: FlaskClient, session: Session, app: Flask,
                                                   database_url: str, session_factory: sessionmaker[Session],
                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = _consenting()
    for word in ("HELP", "info"):
        reply = _text(client, word)
        assert reply.status_code == 200 and reply.mimetype == "text/xml"
        assert "<Message>Reply STOP to stop receiving our texts, START to receive them again." in (
            reply.get_data(as_text=True))
    assert _sms(session, profile)[0] is True and consent_changes(session, profile) == []

    brand = "Acme Heating: help at 555-0100 or acme.example. Reply STOP to end."
    branded = _app(database_url, session_factory, tmp_path, monkeypatch, CRM_SEGMENTS_SMS_HELP_TEXT=brand)
    assert f"<Message>{brand}</Message>" in _text(branded.test_client(), "HELP").get_data(as_text=True)
    silent = _app(database_url, session_factory, tmp_path, monkeypatch, CRM_SEGMENTS_SMS_HELP_TEXT="none")
    assert "<Message>" not in _text(silent.test_client(), "HELP").get_data(as_text=True)


def test_start_gives_back_consent_lost_to_twilio_21610(client: FlaskClient, session: Session) -> None:
    """Twilio refused a message because the number had replied STOP to it: a START undoes that too."""
    profile = _consenting()
    message = queue(session, profile, channel="sms")
    message.status, message.provider, message.provider_message_id = "sent", "twilio", "SM" + "7" * 32
    session.flush()
    path = status_callback_url("", message.id)
    params = {"MessageSid": "SM" + "7" * 32, "MessageStatus": "failed", "ErrorCode": "21610"}
    client.post(path, data=urlencode(params), headers={
        "X-Twilio-Signature": twilio_signature(TOKEN, BASE_URL + path, params),
        "Content-Type": "application/x-www-form-urlencoded"})
    assert _sms(session, profile)[:2] == (False, "sms_keyword")
    assert consent_changes(session, profile)[0].actor == "Twilio"
    _text(client, "START")
    assert _sms(session, profile) == (True, "form", GIVEN_AT)


def test_a_replayed_or_forged_keyword_changes_nothing(client: FlaskClient, session: Session) -> None:
    profile = _consenting()
    params = {"MessageSid": "SM" + "f" * 32, "From": NUMBER, "Body": "STOP"}
    signed = {"X-Twilio-Signature": twilio_signature(TOKEN, BASE_URL + INBOUND, params),
              "Content-Type": "application/x-www-form-urlencoded"}
    assert client.post(INBOUND, data=urlencode(params), headers=signed).status_code == 200
    _text(client, "START")
    assert client.post(INBOUND, data=urlencode(params), headers=signed).status_code == 403  # replay
    forged = {**signed, "X-Twilio-Signature": twilio_signature("wrong", BASE_URL + INBOUND, params)}
    assert client.post(INBOUND, data=urlencode({**params, "MessageSid": "SM" + "e" * 32}),
                       headers=forged).status_code == 403
    assert _sms(session, profile)[0] is True and len(consent_changes(session, profile)) == 2


def _link(session: Session, profile: Profile) -> tuple[str, int]:
    message = queue(session, profile)
    message.status, message.to_address = "sent", profile.email
    session.flush()
    token = unsubscribe_token(SECRET, profile_id=profile.id, message_id=message.id)
    return unsubscribe_url("", token), message.id


def test_get_and_head_on_the_unsubscribe_link_change_nothing(client: FlaskClient, session: Session) -> None:
    profile = reachable(email="ann@example.com")
    path, _ = _link(session, profile)
    head = client.head(path)  # what mail link scanners send
    assert head.status_code == 200
    page = client.get(path)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    body = page.get_data(as_text=True)
    assert '<form method="post">' in body and "Unsubscribe</button>" in body
    session.refresh(profile)
    assert profile.email_consent is True and consent_changes(session, profile) == []


@pytest.mark.parametrize(("form", "how"), [({"List-Unsubscribe": "One-Click"}, "one-click"),
                                           ({}, "confirmed")])
def test_a_post_unsubscribes_with_a_history_row(client: FlaskClient, session: Session, form: dict[str, str],
                                                how: str) -> None:
    profile = reachable(email="bea@example.com", email_consent_source="api")
    path, message_id = _link(session, profile)
    done = client.post(path, data=form)  # no CSRF token: the signed link is the authority
    assert done.status_code == 200 and "You are unsubscribed" in done.get_data(as_text=True)
    session.refresh(profile)
    assert profile.email_consent is False and profile.email_consent_source == "unsubscribe_link"
    [change] = consent_changes(session, profile)
    assert (change.channel, change.old_value, change.new_value, change.source) == (
        "email", True, False, "unsubscribe_link")
    assert change.actor == "bea@example.com (unsubscribe link)"
    assert change.detail == f"{how} on the unsubscribe link" and change.message_id == message_id
    assert change.previous_source == "api"
    assert client.post(path, data=form).status_code == 200 and len(consent_changes(session, profile)) == 1

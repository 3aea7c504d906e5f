"""Provider webhooks and the public unsubscribe link: no login and no CSRF token (registered
CSRF-exempt); the provider's signature, or the link's signed token, is the authentication.
A forged, stale or tampered request gets 403 and changes nothing."""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, current_app, render_template, request
from flask.blueprints import BlueprintSetupState
from twilio.twiml.messaging_response import MessagingResponse

from crm_segments.config import Settings
from crm_segments.db import utcnow
from crm_segments.delivery import links
from crm_segments.delivery.sendgrid_events import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    record_sendgrid_events,
    verification_problem,
)
from crm_segments.delivery.twilio_events import record_inbound, record_status, signature_valid
from crm_segments.delivery.unsubscribe import profile_for_token, unsubscribe
from crm_segments.kernel.json_text import parse_json
from crm_segments.state import get_state
from crm_segments.web.db import db_session

log = logging.getLogger(__name__)
bp = Blueprint("crm_webhooks", __name__, template_folder="templates")
_PREFIX_KEY = "crm_segments.webhooks_prefix"


@bp.record_once
def _remember_prefix(state: BlueprintSetupState) -> None:
    state.app.extensions[_PREFIX_KEY] = state.url_prefix or ""


def public_base_url(app: Flask) -> str:
    """Where these routes are reachable from outside: links in messages are built on it."""
    return get_state(app).settings.public_url + str(app.extensions.get(_PREFIX_KEY, ""))


def _settings() -> Settings:
    return get_state(current_app).settings


def _refuse(reason: str) -> tuple[dict[str, object], int]:
    log.warning("webhook %s refused: %s", request.path, reason)
    return {"error": reason}, 403


def _public_url() -> str:
    """The URL the provider signed: the public base plus this request's path and query."""
    query = request.query_string.decode()
    return _settings().public_url + request.path + (f"?{query}" if query else "")


@bp.post(links.SENDGRID_EVENTS_PATH)
def sendgrid_events() -> tuple[dict[str, object], int]:
    messaging = _settings().messaging
    body = request.get_data()
    if problem := verification_problem(messaging.sendgrid_webhook_public_key, body,
                                       request.headers.get(SIGNATURE_HEADER),
                                       request.headers.get(TIMESTAMP_HEADER),
                                       now=utcnow(), max_age=messaging.webhook_max_age):
        return _refuse(problem)
    try:
        items = parse_json(body)
    except ValueError:
        return {"error": "the body is not JSON"}, 400
    if not isinstance(items, list):
        return {"error": "the body must be a JSON array of events"}, 400
    session = db_session()
    report = record_sendgrid_events(session, items, now=utcnow())
    if report.duplicates and not report.recorded and not report.ignored:
        session.rollback()
        return _refuse("replayed: every event of this request was already recorded")
    return {"recorded": report.recorded, "duplicates": report.duplicates, "ignored": report.ignored}, 200


def _twilio_signed() -> bool:
    token = _settings().messaging.twilio_auth_token
    return signature_valid(token, _public_url(), request.form, request.headers.get("X-Twilio-Signature"))


@bp.post(links.TWILIO_STATUS_PATH)
def twilio_status(message_id: int) -> tuple[dict[str, object], int]:
    if not _twilio_signed():
        return _refuse("the X-Twilio-Signature does not match")
    session = db_session()
    recorded = record_status(session, message_id, request.form, now=utcnow())
    return {"recorded": recorded}, 200


@bp.post(links.TWILIO_INBOUND_PATH)
def twilio_inbound() -> Response | tuple[dict[str, object], int]:
    if not _twilio_signed():
        return _refuse("the X-Twilio-Signature does not match")
    session = db_session()
    inbound = record_inbound(session, request.form, now=utcnow())
    if inbound.kind == "duplicate":
        session.rollback()
        return _refuse("replayed: this inbound message was already recorded")
    # Twilio confirms STOP and START itself (carriers require it); HELP is answered here, unless
    # Advanced Opt-Out already did.
    help_text = _settings().messaging.sms_help_text
    twiml = MessagingResponse()
    if inbound.kind == "help" and help_text and not inbound.answered_by_twilio:
        twiml.message(help_text)
    return Response(str(twiml), mimetype="text/xml")


def _unsubscribe_page(state: str, status: int, **context: object) -> tuple[str, int, dict[str, str]]:
    # The page is for the recipient alone: never indexed, never cached by a proxy.
    return (render_template("crm_segments/unsubscribe.html", state=state, **context), status,
            {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"})


@bp.get(links.UNSUBSCRIBE_PATH)
def unsubscribe_confirm(token: str) -> tuple[str, int, dict[str, str]]:
    """GET (and HEAD, which link scanners send) only asks: nothing changes until a POST."""
    found = profile_for_token(db_session(), signing_key=_settings().messaging.signing_key, token=token)
    if found is None:
        return _unsubscribe_page("invalid", 403)
    request_, profile = found
    granted = profile.email_consent if request_.channel == "email" else profile.sms_consent
    return _unsubscribe_page("confirm", 200, channel=request_.channel, already=not granted)


@bp.post(links.UNSUBSCRIBE_PATH)
def unsubscribe_link(token: str) -> tuple[str, int, dict[str, str]]:
    """The button on the page, or a mailbox's one-click request (RFC 8058: a POST whose body is
    List-Unsubscribe=One-Click): the signed token is the authority, so no CSRF token is asked for."""
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    if unsubscribe(db_session(), signing_key=_settings().messaging.signing_key, token=token, now=utcnow(),
                   how="one-click" if one_click else "confirmed") is None:
        return _unsubscribe_page("invalid", 403)
    return _unsubscribe_page("done", 200)

"""Twilio's status callbacks and inbound messages, signed in X-Twilio-Signature.

The signature covers the full public URL and the POST parameters, so it is checked against the URL
the outside world used (CRM_SEGMENTS_PUBLIC_URL plus the path). Inbound STOP / START / HELP replies
update SMS consent with an audit entry (Twilio's own opt-out handling answers the sender).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from crm_segments.models import Profile

from .consent import set_consent
from .delivery import DeliveryEvent, record_event

STATUSES = {"accepted": None, "queued": None, "scheduled": None, "sending": None, "sent": "sent",
            "delivered": "delivered", "undelivered": "undelivered", "failed": "failed", "read": "opened",
            "canceled": "failed"}
OPTED_OUT_CODES = ("21610",)
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
START_WORDS = {"START", "YES", "UNSTOP", "OPTIN"}
HELP_WORDS = {"HELP", "INFO"}


def signature_valid(auth_token: str | None, url: str, params: Mapping[str, Any],
                    signature: str | None) -> bool:
    if not auth_token or not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


def record_status(session: Session, message_id: int, params: Mapping[str, str], *, now: dt.datetime) -> bool:
    """A status callback for our message ``message_id``; False when ignored (repeat or unknown status)."""
    sid, status = params.get("MessageSid") or params.get("SmsSid"), params.get("MessageStatus")
    if not sid or status not in STATUSES:
        return False
    error_code = params.get("ErrorCode") or ""
    event = DeliveryEvent(
        provider="twilio", event_id=f"twilio:{sid}:{status}", event=status, occurred_at=now,
        status=STATUSES[status], message_id=message_id, provider_message_id=sid,
        detail=f"error {error_code}" if error_code else "",
        withdraws="sms" if error_code in OPTED_OUT_CODES else None, payload=dict(params),
    )
    return record_event(session, event, now=now)


def keyword(params: Mapping[str, str]) -> str | None:
    """STOP, START or HELP when the inbound message is one (Advanced Opt-Out names it for us)."""
    if (opt := (params.get("OptOutType") or "").upper()) in ("STOP", "START", "HELP"):
        return opt
    # Like Twilio's own opt-out handling: the keyword must be the whole message.
    word = (params.get("Body") or "").strip().strip(".!").upper()
    for name, group in (("STOP", STOP_WORDS), ("START", START_WORDS), ("HELP", HELP_WORDS)):
        if word in group:
            return name
    return None


def record_inbound(session: Session, params: Mapping[str, str], *, now: dt.datetime) -> str:
    """An inbound SMS: consent changes for STOP / START; returns what it was (or "duplicate")."""
    sid, sender = params.get("MessageSid") or params.get("SmsSid"), params.get("From") or ""
    if not sid:
        return "ignored"
    word = keyword(params)
    profiles = list(session.scalars(select(Profile).where(Profile.phone == sender))) if sender else []
    event = DeliveryEvent(provider="twilio", event_id=f"twilio:inbound:{sid}", event="inbound",
                          occurred_at=now, detail=(params.get("Body") or "")[:500], payload=dict(params))
    if not record_event(session, event, now=now):
        return "duplicate"
    if word in ("STOP", "START"):
        for profile in profiles:
            set_consent(session, profile=profile, channel="sms", granted=word == "START",
                        source="sms_keyword", detail=f"replied {word}", now=now)
    return (word or "message").lower()

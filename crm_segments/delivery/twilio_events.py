"""Twilio's status callbacks and inbound messages, signed in X-Twilio-Signature.

The signature covers the full public URL and the POST parameters, so it is checked against the URL
the outside world used (CRM_SEGMENTS_PUBLIC_URL plus the path).

Inbound keywords act on the profiles whose number sent them, each with a consent history row: a STOP
withdraws their SMS consent; a START gives back only consent a STOP withdrew (a profile that never
consented, or withdrew another way, stays without); HELP is answered with CRM_SEGMENTS_SMS_HELP_TEXT.
Keywords are the whole message, in any case (CTIA's and Twilio's sets: YES is not START, because
"yes" answers questions). With Advanced Opt-Out, Twilio names the keyword in ``OptOutType`` (the
account's own keywords included), and that is what counts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from crm_segments.models import Profile
from crm_segments.profiles.consent import Actor, restore_after_stop, set_consent

from .events import DeliveryEvent, record_event
from .sms_keywords import HELP_WORDS, START_WORDS, STOP_WORDS

STATUSES = {"accepted": None, "queued": None, "scheduled": None, "sending": None, "sent": "sent",
            "delivered": "delivered", "undelivered": "undelivered", "failed": "failed", "read": "opened",
            "canceled": "failed"}
OPTED_OUT_CODES = ("21610",)


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
        # 21610: the number replied STOP to Twilio, so a START from it gives the consent back.
        withdrawn_by="sms_keyword", actor="Twilio",
    )
    return record_event(session, event, now=now)


def keyword(params: Mapping[str, str]) -> str | None:
    """STOP, START or HELP when the inbound message is one (Advanced Opt-Out names it for us)."""
    if (opt := (params.get("OptOutType") or "").strip().upper()) in ("STOP", "START", "HELP"):
        return opt
    # Like Twilio's own opt-out handling: the keyword must be the whole message.
    word = (params.get("Body") or "").strip().strip(".!").strip().upper()
    for name, group in (("STOP", STOP_WORDS), ("START", START_WORDS), ("HELP", HELP_WORDS)):
        if word in group:
            return name
    return None


@dataclass(frozen=True)
class Inbound:
    """What an inbound message was ("stop", "start", "help", "message", "ignored" or "duplicate"), the
    profiles whose consent it changed, and whether Twilio's Advanced Opt-Out already answered it."""

    kind: str
    changed: tuple[int, ...] = ()
    answered_by_twilio: bool = False


def record_inbound(session: Session, params: Mapping[str, str], *, now: dt.datetime) -> Inbound:
    """An inbound SMS: STOP / START change the consent of the profiles with the sender's number."""
    sid, sender = params.get("MessageSid") or params.get("SmsSid"), (params.get("From") or "").strip()
    if not sid:
        return Inbound("ignored")
    word = keyword(params)
    event = DeliveryEvent(provider="twilio", event_id=f"twilio:inbound:{sid}", event="inbound",
                          occurred_at=now, detail=(params.get("Body") or "")[:500], payload=dict(params))
    if not record_event(session, event, now=now):
        return Inbound("duplicate")
    changed: list[int] = []
    if word in ("STOP", "START") and sender:
        actor = Actor(sender)
        detail = f"replied {(params.get('Body') or word).strip().upper()[:40]}"
        for profile in session.scalars(select(Profile).where(Profile.phone == sender).order_by(Profile.id)):
            if word == "STOP":
                row = set_consent(session, profile=profile, channel="sms", granted=False,
                                  source="sms_keyword", actor=actor, detail=detail, now=now)
            else:
                row = restore_after_stop(session, profile=profile, actor=actor, detail=detail, now=now)
            if row is not None:
                changed.append(profile.id)
    return Inbound((word or "message").lower(), tuple(changed),
                   answered_by_twilio=bool(params.get("OptOutType")))

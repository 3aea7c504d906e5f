"""SendGrid's Event Webhook: verify the ECDSA signature and the timestamp's age, then record events.

The library checks the signature but not the age, so a captured request could be replayed forever;
requests older than ``webhook_max_age`` are refused. Events repeat when SendGrid retries a delivery;
``sg_event_id`` makes a repeat a no-op.
"""

from __future__ import annotations

import binascii
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from sendgrid.helpers.eventwebhook import EventWebhook
from sqlalchemy.orm import Session

from crm_segments.channels.sendgrid import MESSAGE_ID_ARG
from crm_segments.kernel.record_ids import parse_id

from .events import DeliveryEvent, record_events

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
STATUSES = {"processed": None, "deferred": None, "delivered": "delivered", "open": "opened",
            "click": "clicked", "bounce": "bounced", "dropped": "dropped", "spamreport": "spam_report",
            "unsubscribe": "unsubscribed", "group_unsubscribe": "unsubscribed"}


@dataclass
class EventsReport:
    recorded: int = 0
    duplicates: int = 0
    ignored: int = 0  # malformed or of a kind the product does not track


@lru_cache(maxsize=4)
def _public_key(text: str) -> EllipticCurvePublicKey:
    key: EllipticCurvePublicKey = EventWebhook().convert_public_key_to_ecdsa(text)
    return key


def verification_problem(public_key: str | None, payload: bytes, signature: str | None,
                         timestamp: str | None, *, now: dt.datetime, max_age: dt.timedelta) -> str | None:
    """None when the request is SendGrid's and fresh, else why it is refused."""
    if not public_key:
        return "no verification key is configured (CRM_SEGMENTS_SENDGRID_WEBHOOK_PUBLIC_KEY)"
    if not signature or not timestamp or not timestamp.isdigit():
        return "the signature or timestamp header is missing"
    if abs(now.timestamp() - int(timestamp)) > max_age.total_seconds():
        return "the timestamp is too old (a replay?)"
    try:
        valid = EventWebhook().verify_signature(payload.decode("utf-8"), signature, timestamp,
                                                public_key=_public_key(public_key))
    except (ValueError, binascii.Error, TypeError, UnicodeDecodeError):
        valid = False
    return None if valid else "the signature does not match"


def to_event(item: dict[str, Any]) -> DeliveryEvent | None:
    name, event_id = item.get("event"), item.get("sg_event_id")
    if not isinstance(name, str) or not isinstance(event_id, str) or name not in STATUSES:
        return None
    try:
        occurred = dt.datetime.fromtimestamp(int(item.get("timestamp", 0)), dt.UTC)
    except (TypeError, ValueError, OverflowError):
        return None
    raw_id = str(item.get(MESSAGE_ID_ARG, ""))
    sg_message_id = str(item.get("sg_message_id") or "")
    reason = str(item.get("reason") or item.get("response") or item.get("url") or "")
    hard_bounce = (name == "bounce" and item.get("type", "bounce") == "bounce") or (
        name == "dropped" and "bounce" in reason.lower())
    withdraws = "email" if name in ("spamreport", "unsubscribe", "group_unsubscribe") else None
    return DeliveryEvent(
        provider="sendgrid", event_id=f"sendgrid:{event_id}", event=name, occurred_at=occurred,
        status=STATUSES[name], message_id=parse_id(raw_id),
        provider_message_id=sg_message_id.split(".", 1)[0] or None, detail=reason,
        hard_bounce=hard_bounce, withdraws=withdraws,
        withdrawn_by="complaint" if name == "spamreport" else "webhook",
        actor=f"{item['email']} via SendGrid" if isinstance(item.get("email"), str) else "SendGrid",
        payload=item,
    )


def record_sendgrid_events(session: Session, items: list[Any], *, now: dt.datetime) -> EventsReport:
    events = [to_event(item) if isinstance(item, dict) else None for item in items]
    known = [event for event in events if event is not None]
    recorded = sum(record_events(session, known, now=now))
    return EventsReport(recorded=recorded, duplicates=len(known) - recorded, ignored=len(items) - len(known))

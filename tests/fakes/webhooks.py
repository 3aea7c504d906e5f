"""Webhook requests as the providers make them: signed SendGrid events and Twilio callbacks."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


class SendGridSigner:
    """The account's Event Webhook key pair; ``public_key`` is what SendGrid's settings page shows."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        der = self._key.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public_key = base64.b64encode(der).decode()

    def sign(self, payload: str, timestamp: str) -> str:
        signature = self._key.sign((timestamp + payload).encode(), ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode()

    def request(self, events: list[dict[str, Any]], *,
                timestamp: int | None = None) -> tuple[str, dict[str, str]]:
        """The raw body and headers of one Event Webhook POST."""
        payload = json.dumps(events, separators=(",", ":"))
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        return payload, {SIGNATURE_HEADER: self.sign(payload, stamp), TIMESTAMP_HEADER: stamp,
                         "Content-Type": "application/json"}


def sendgrid_event(accepted: dict[str, Any], event: str, *, timestamp: int | None = None,
                   **extra: Any) -> dict[str, Any]:
    """An event about a message the fake accepted; custom_args ride along as top-level keys."""
    personalization = accepted["personalizations"][0]
    args = {**(accepted.get("custom_args") or {}), **(personalization.get("custom_args") or {})}
    return {
        "email": personalization["to"][0]["email"],
        "timestamp": int(time.time()) if timestamp is None else timestamp,
        "event": event,
        "sg_event_id": secrets.token_urlsafe(16),
        "sg_message_id": f"{accepted['message_id']}.filterdrecv-5645d9c87f-6r2ch-1-62F4-1.0",
        **args,
        **extra,
    }


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    return str(RequestValidator(auth_token).compute_signature(url, params))

"""Public links in messages and the webhook paths providers call, shared by the sender and the views.

``base_url`` is the public URL the plugin's routes are served under (CRM_SEGMENTS_PUBLIC_URL plus the
mount prefix), so a signed link or a Twilio signature check sees the URL the outside world uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from itsdangerous import BadSignature, Signer, URLSafeSerializer

UNSUBSCRIBE_PATH = "/unsubscribe/<token>"
SENDGRID_EVENTS_PATH = "/webhooks/sendgrid/events"
TWILIO_STATUS_PATH = "/webhooks/twilio/status/<int:message_id>"
TWILIO_INBOUND_PATH = "/webhooks/twilio/inbound"
_SALT = "crm-segments-unsubscribe"


@dataclass(frozen=True)
class UnsubscribeRequest:
    profile_id: int
    channel: str
    message_id: int | None


@lru_cache(maxsize=4)
def _serializer(signing_key: str) -> URLSafeSerializer:
    if not signing_key:
        raise RuntimeError("SECRET_KEY is not set: unsubscribe links cannot be signed")
    return URLSafeSerializer(signing_key, salt=_SALT)


@lru_cache(maxsize=4)
def _signer(signing_key: str) -> Signer:
    return _serializer(signing_key).make_signer()


# A message's link is wanted twice (the template's context, the List-Unsubscribe header) and signing
# is a sizeable part of a send's CPU: the last few thousand are kept.
@lru_cache(maxsize=4096)
def unsubscribe_token(signing_key: str, *, profile_id: int, message_id: int | None,
                      channel: str = "email") -> str:
    """What ``URLSafeSerializer(signing_key, salt).dumps`` gives, with its signer made once."""
    # No expiry: a link in an old email must keep working.
    payload = _serializer(signing_key).dump_payload({"p": profile_id, "c": channel, "m": message_id})
    return _signer(signing_key).sign(payload).decode("utf-8")


def read_unsubscribe_token(signing_key: str, token: str) -> UnsubscribeRequest | None:
    """The request a token carries, or None when it is forged or malformed."""
    try:
        data = _serializer(signing_key).loads(token)
        return UnsubscribeRequest(int(data["p"]), str(data["c"]),
                                  int(data["m"]) if data.get("m") is not None else None)
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def unsubscribe_url(base_url: str, token: str) -> str:
    return base_url + UNSUBSCRIBE_PATH.replace("<token>", token)


def status_callback_url(base_url: str, message_id: int) -> str:
    return base_url + TWILIO_STATUS_PATH.replace("<int:message_id>", str(message_id))

"""The unsubscribe link in every marketing email: a signed token names the profile and the message."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from crm_segments.models import Message, Profile
from crm_segments.profiles.consent import Actor, set_consent

from .events import STATUS_RANK
from .links import UnsubscribeRequest, read_unsubscribe_token


def profile_for_token(session: Session, *, signing_key: str, token: str) -> tuple[UnsubscribeRequest,
                                                                                  Profile] | None:
    request = read_unsubscribe_token(signing_key, token)
    if request is None:
        return None
    profile = session.get(Profile, request.profile_id)
    return (request, profile) if profile is not None else None


def unsubscribe(session: Session, *, signing_key: str, token: str, now: dt.datetime,
                how: str = "confirmed") -> Profile | None:
    """Withdraw consent for the token's channel; None when the token is forged or the profile gone.
    ``how``: "confirmed" (the button on the page) or "one-click" (a mailbox's RFC 8058 POST)."""
    found = profile_for_token(session, signing_key=signing_key, token=token)
    if found is None:
        return None
    request, profile = found
    message = session.get(Message, request.message_id) if request.message_id is not None else None
    if message is not None and message.profile_id != profile.id:
        message = None
    # The recipient, by the address the message went to (the profile's may have changed since).
    address = (message.to_address if message is not None else None) or (
        profile.email if request.channel == "email" else profile.phone)
    set_consent(session, profile=profile, channel=request.channel, granted=False, source="unsubscribe_link",
                actor=Actor(f"{address or 'the recipient'} (unsubscribe link)"),
                detail=f"{how} on the unsubscribe link", message_id=message.id if message else None, now=now)
    if message is not None and STATUS_RANK.get(message.status, 0) >= 2:
        message.status, message.status_reason = "unsubscribed", "unsubscribe link"
    session.flush()
    return profile

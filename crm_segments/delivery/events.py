"""Delivery events move a message forward (sent -> delivered -> opened -> clicked, or to a failure)
and never back; each provider event is recorded once, so a replayed webhook changes nothing.

An ``unknown`` or ``unconfirmed`` message (the sender never heard back) is settled here: any event
about it proves the provider took it. A hard bounce marks the address bounced; a spam report or an
unsubscribe event withdraws consent; each writes a consent history row (profiles/consent.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm_segments.kernel.bulk_update import id_in
from crm_segments.models import Message, MessageEvent, Profile
from crm_segments.profiles.consent import Actor, record_bounce, set_consent

# Higher ranks win; equal ranks let a later event replace an earlier one (a bounce after delivery).
STATUS_RANK = {
    "pending": 0, "sending": 1, "unknown": 1, "unconfirmed": 1, "sent": 2,
    "delivered": 3, "bounced": 3, "dropped": 3, "failed": 3, "undelivered": 3,
    "opened": 4, "clicked": 5, "unsubscribed": 6, "spam_report": 6,
}
FAILURES = ("bounced", "dropped", "failed", "undelivered")
TIMESTAMPS = {"delivered": "delivered_at", "opened": "opened_at", "clicked": "clicked_at"}


@dataclass(frozen=True)
class DeliveryEvent:
    provider: str
    event_id: str                  # the provider's id for this event: a second copy is ignored
    event: str                     # the provider's name for it
    occurred_at: dt.datetime
    status: str | None = None      # the message status it implies, if any
    message_id: int | None = None
    provider_message_id: str | None = None
    detail: str = ""
    hard_bounce: bool = False      # stop email to the address
    withdraws: str | None = None   # the channel whose consent the recipient withdrew
    withdrawn_by: str = "webhook"  # the consent history's source for it: "complaint" for a spam report
    actor: str = ""                # who, for the consent history: the recipient, as the provider names it
    payload: dict[str, Any] = field(default_factory=dict)


EVENT_CHUNK = 500  # events per INSERT and per query for their messages


def record_event(session: Session, event: DeliveryEvent, *, now: dt.datetime) -> bool:
    """Apply one event; False when it was seen before (nothing changes)."""
    return record_events(session, [event], now=now)[0]


def record_events(session: Session, events: Sequence[DeliveryEvent], *, now: dt.datetime) -> list[bool]:
    """Apply ``events`` in order; for each, False when it was seen before (nothing changes).

    A webhook brings them by the hundred: each ``EVENT_CHUNK`` costs one query for their messages and
    one INSERT of their rows, not three round trips an event."""
    recorded: list[bool] = []
    for start in range(0, len(events), EVENT_CHUNK):
        recorded += _record_chunk(session, events[start:start + EVENT_CHUNK], now=now)
    return recorded


def _record_chunk(session: Session, events: Sequence[DeliveryEvent], *, now: dt.datetime) -> list[bool]:
    ids = {event.message_id for event in events if event.message_id is not None}
    # Kept referenced: the identity map holds rows weakly, and _find_message looks there first.
    loaded = list(session.scalars(select(Message).where(id_in(session, Message.id, ids)))) if ids else []
    messages = [_find_message(session, event) for event in events]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    inserted = set(session.scalars(
        insert(MessageEvent).values([{
            "provider": event.provider, "provider_event_id": event.event_id[:200],
            "message_id": message.id if message else None,
            "profile_id": message.profile_id if message else None, "event": event.event[:40],
            "detail": event.detail[:2000], "occurred_at": event.occurred_at, "received_at": now,
            "payload": event.payload} for event, message in zip(events, messages, strict=True)])
        .on_conflict_do_nothing(index_elements=["provider_event_id"])
        .returning(MessageEvent.provider_event_id)))
    recorded: list[bool] = []
    for event, message in zip(events, messages, strict=True):
        new = event.event_id[:200] in inserted
        inserted.discard(event.event_id[:200])  # a second copy in the same request is a repeat
        recorded.append(new)
        # An earlier event of the request may have given the message another provider id.
        if new and message is not None and _agrees(message, event):
            _apply(session, message, event, now=now)
    session.flush()
    del loaded
    return recorded


def _apply(session: Session, message: Message, event: DeliveryEvent, *, now: dt.datetime) -> None:
    _advance(message, event, now=now)
    if message.recipient_user_id is not None or not (event.hard_bounce or event.withdraws):
        return
    profile = session.get(Profile, message.profile_id)
    if profile is None:
        return
    actor = Actor(event.actor or event.provider)
    if event.hard_bounce and message.channel == "email":
        record_bounce(session, profile=profile, actor=actor, message_id=message.id, now=now,
                      detail=f"{event.provider} {event.event}: {event.detail}".rstrip(": "))
    if event.withdraws:
        set_consent(session, profile=profile, channel=event.withdraws, granted=False,
                    source=event.withdrawn_by, actor=actor, detail=f"{event.provider} {event.event}",
                    message_id=message.id, now=now)


def _find_message(session: Session, event: DeliveryEvent) -> Message | None:
    message = session.get(Message, event.message_id) if event.message_id is not None else None
    if message is None and event.provider_message_id:
        message = session.scalars(select(Message).where(
            Message.provider_message_id == event.provider_message_id)).first()
    return message if message is not None and _agrees(message, event) else None


def _agrees(message: Message, event: DeliveryEvent) -> bool:
    """The id in custom args / the callback URL must agree with the provider's own id, once known."""
    known = message.provider_message_id
    return not (known and event.provider_message_id and known != event.provider_message_id)


def _advance(message: Message, event: DeliveryEvent, *, now: dt.datetime) -> None:
    if message.status in ("pending", "suppressed", "skipped"):
        return  # never handed over: an event about it is stray
    if message.provider_message_id is None and event.provider_message_id:
        message.provider_message_id = event.provider_message_id
    if message.sent_at is None:
        message.sent_at = event.occurred_at  # any event proves the provider took it
    status = event.status
    if status is None:
        if message.status in ("sending", "unknown", "unconfirmed"):
            message.status, message.status_reason = "sent", None
        return
    if (column := TIMESTAMPS.get(status)) and getattr(message, column) is None:
        setattr(message, column, event.occurred_at)
    if status in ("opened", "clicked") and message.delivered_at is None:
        message.delivered_at = event.occurred_at
    if status in FAILURES:
        message.failed_at = message.failed_at or event.occurred_at
    if STATUS_RANK[status] >= STATUS_RANK.get(message.status, 0):
        message.status = status
        message.status_reason = event.detail[:200] or None
    message.updated_at = now

"""Frequency caps for a batch of messages: the recent sends of every profile in the batch are counted
with one grouped query per capped channel, then each message the batch lets through counts too, so
two messages to one profile in one batch are capped exactly like two batches one after the other.

The counts are read when a part is checked, and again, for the few messages about to go, after the
dispatcher holds their profiles' locks (``starting.mark_sending``), so a message another dispatcher
marked ``sending`` a moment ago is counted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.config import FrequencyCap, Settings
from crm_segments.kernel.bulk_update import id_in
from crm_segments.kernel.id_arrays import Int4Array, int4_array_driver
from crm_segments.models import Message

CAPPED_CATEGORIES = ("marketing",)  # transactional and test messages are exempt
# Statuses that mean the message went out (or may have): they count against a frequency cap.
COUNTS_AS_SENT = ("sending", "unknown", "unconfirmed", "sent", "delivered", "opened", "clicked",
                  "unsubscribed", "spam_report", "bounced")


class Capped(Protocol):
    """A message as the caps see it (a Message row, or a Handover about to be sent)."""

    @property
    def profile_id(self) -> int: ...
    @property
    def channel(self) -> str: ...
    @property
    def category(self) -> str: ...


def channel_cap(channel: str, settings: Settings) -> FrequencyCap | None:
    messaging = settings.messaging
    return messaging.email_frequency_cap if channel == "email" else messaging.sms_frequency_cap


def is_capped(message: Capped, settings: Settings) -> bool:
    return message.category in CAPPED_CATEGORIES and channel_cap(message.channel, settings) is not None


class FrequencyCaps:
    """Capped sends per (profile, channel) in the cap's window: counted once, then kept up to date."""

    def __init__(self, session: Session, messages: Iterable[Capped], *, settings: Settings,
                 now: dt.datetime) -> None:
        self.settings = settings
        self.now = now
        self._sent: dict[tuple[int, str], tuple[int, dt.datetime | None]] = {}
        capped = [m for m in messages if m.category in CAPPED_CATEGORIES]
        for channel in {m.channel for m in capped}:
            cap = channel_cap(channel, settings)
            if cap is None:
                continue
            profile_ids = {m.profile_id for m in capped if m.channel == channel}
            for profile_id, count, oldest in recent_sends(session, profile_ids, channel=channel,
                                                          since=now - cap.window):
                self._sent[(profile_id, channel)] = (int(count), oldest)

    def free_at(self, message: Capped) -> dt.datetime | None:
        """When the profile's cap on this channel frees up, or None when it is not reached."""
        cap = channel_cap(message.channel, self.settings)
        if cap is None or message.category not in CAPPED_CATEGORIES:
            return None
        count, oldest = self._sent.get((message.profile_id, message.channel), (0, None))
        if count < cap.limit or oldest is None:
            return None
        return max(oldest + cap.window, self.now + dt.timedelta(minutes=1))

    def count(self, message: Capped) -> None:
        """The message goes out now: it counts against its profile's cap from here on."""
        if message.category not in CAPPED_CATEGORIES:
            return
        key = (message.profile_id, message.channel)
        count, oldest = self._sent.get(key, (0, None))
        self._sent[key] = (count + 1, self.now if oldest is None else min(oldest, self.now))


# Runs for every part checked and every group marked. On PostgreSQL it is one fixed statement handed to
# the driver and prepared on the server, instead of a select() that SQLAlchemy builds, keys, compiles
# and wraps each time: that building was most of the count's cost to a dispatcher, whose interpreter
# time bounds a worker's rate (the count was about 15 % of it).
_RECENT_SENDS = (
    "SELECT profile_id, count(*), min(attempted_at) FROM crm_messages "
    "WHERE profile_id = ANY(%(profile_ids)s) AND channel = %(channel)s AND category = ANY(%(categories)s) "
    "AND status = ANY(%(statuses)s) AND attempted_at > %(since)s GROUP BY profile_id")


def recent_sends(session: Session, profile_ids: Collection[int], *, channel: str,
                 since: dt.datetime) -> list[tuple[int, int, dt.datetime | None]]:
    """(profile id, capped sends, the oldest one's time) of ``profile_ids`` on ``channel`` after
    ``since``, in the session's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        return list(int4_array_driver(session).execute(_RECENT_SENDS, {
            "profile_ids": Int4Array(profile_ids), "channel": channel, "categories": list(CAPPED_CATEGORIES),
            "statuses": list(COUNTS_AS_SENT), "since": since}, prepare=True))
    return [(profile_id, count, oldest) for profile_id, count, oldest in session.execute(
        select(Message.profile_id, func.count(), func.min(Message.attempted_at))
        .where(id_in(session, Message.profile_id, profile_ids), Message.channel == channel,
               Message.category.in_(CAPPED_CATEGORIES), Message.status.in_(COUNTS_AS_SENT),
               Message.attempted_at > since)
        .group_by(Message.profile_id))]

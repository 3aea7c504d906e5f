"""Channels that need attention: paused ones (the provider refused the credentials), messages that
failed to arrive in the last days, and messages whose outcome nobody could confirm."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.messages.channel_pauses import ChannelState, channel_states
from crm_segments.models import Message

FAILED = ("bounced", "dropped", "failed", "undelivered")
FAILURE_DAYS = 7


@dataclass(frozen=True)
class ChannelHealth:
    state: ChannelState
    failed: int  # messages created in the last FAILURE_DAYS days that did not arrive
    unconfirmed: int  # the provider may have taken them; a person decides

    @property
    def needs_attention(self) -> bool:
        return self.state.paused or self.failed > 0 or self.unconfirmed > 0


def channel_health(session: Session, *, now: dt.datetime) -> list[ChannelHealth]:
    since = now - dt.timedelta(days=FAILURE_DAYS)
    failed: dict[str, int] = {channel: n for channel, n in session.execute(  # the created_at index
        select(Message.channel, func.count())
        .where(Message.created_at >= since, Message.status.in_(FAILED)).group_by(Message.channel))}
    unconfirmed: dict[str, int] = {channel: n for channel, n in session.execute(  # the status index
        select(Message.channel, func.count()).where(Message.status == "unconfirmed")
        .group_by(Message.channel))}
    return [ChannelHealth(state, failed.get(state.channel, 0), unconfirmed.get(state.channel, 0))
            for state in channel_states(session)]

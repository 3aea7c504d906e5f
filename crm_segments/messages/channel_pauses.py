"""A channel whose provider refused the product's credentials is paused, in the database.

One refusal (SendGrid 401/403, Twilio 401 / 20003) means every message on that channel would be
refused alike, so the channel stops: its messages stay queued, no dispatcher in any process (web,
scheduler, ``send-due``) claims them, and every admin page says so until an admin resumes it. Resuming
only clears the pause; the queued messages go out with the next dispatch.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Select, Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import NotFound
from crm_segments.models import Message
from crm_segments.models.messaging import CHANNELS, ChannelPause

log = logging.getLogger(__name__)

CHANNEL_NAMES = {"email": "Email", "sms": "SMS"}
PROVIDER_NAMES = {"sendgrid": "SendGrid", "twilio": "Twilio", "local": "the local outbox"}
PAUSES = cast(Table, ChannelPause.__table__)


@dataclass(frozen=True)
class ChannelState:
    """What the banner, the message log, the CLI and the API show about one channel."""

    channel: str
    paused: bool
    queued: int                      # messages waiting to go out (pending)
    provider: str | None = None      # the provider that refused, while paused
    error: str | None = None
    error_code: str | None = None
    paused_at: dt.datetime | None = None
    resumed_at: dt.datetime | None = None

    @property
    def label(self) -> str:
        return CHANNEL_NAMES[self.channel]

    @property
    def provider_label(self) -> str:
        return PROVIDER_NAMES.get(self.provider or "", self.provider or "the provider")


def paused_channel_names() -> Select[str]:
    """The channels paused right now, as a subquery a claim excludes."""
    return select(ChannelPause.channel).where(ChannelPause.paused_at.is_not(None))


def pause_channel(session: Session, *, channel: str, provider: str, error: str, error_code: str | None,
                  message_id: int | None, now: dt.datetime) -> None:
    """Pause ``channel``; a channel already paused keeps its first refusal and time."""
    values: dict[str, Any] = {"channel": channel, "provider": provider, "error": error[:2000],
                              "error_code": error_code, "message_id": message_id, "paused_at": now}
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    insert = dialect.insert(PAUSES).values(**values)
    session.execute(insert.on_conflict_do_update(
        index_elements=[PAUSES.c.channel], set_={k: insert.excluded[k] for k in values if k != "channel"},
        where=PAUSES.c.paused_at.is_(None)))
    log.warning("%s paused: %s refused the credentials: %s", channel, provider, error)


def resume_channel(session: Session, channel: str, *, user_id: int | None, now: dt.datetime) -> bool:
    """Clear the pause; returns False when the channel was not paused. NotFound for an unknown channel."""
    if channel not in CHANNELS:
        raise NotFound(f"no channel {channel!r}; the channels are {', '.join(CHANNELS)}")
    resumed = session.execute(
        update(ChannelPause).where(ChannelPause.channel == channel, ChannelPause.paused_at.is_not(None))
        .values(paused_at=None, resumed_at=now, resumed_by_id=user_id)
        .execution_options(synchronize_session=False))
    if not resumed.rowcount:  # type: ignore[attr-defined]
        return False
    log.info("%s resumed by user %s", channel, user_id)
    return True


def channel_states(session: Session) -> list[ChannelState]:
    """Every channel with its pause (if any) and how many messages it has queued."""
    pauses = {pause.channel: pause for pause in session.scalars(select(ChannelPause))}
    pending = (select(Message.channel, func.count()).where(Message.status == "pending")
               .group_by(Message.channel))
    queued: dict[str, int] = {channel: count for channel, count in session.execute(pending)}
    return [_state(channel, pauses.get(channel), queued.get(channel, 0)) for channel in CHANNELS]


def channel_state(session: Session, channel: str) -> ChannelState:
    for state in channel_states(session):
        if state.channel == channel:
            return state
    raise NotFound(f"no channel {channel!r}; the channels are {', '.join(CHANNELS)}")


def paused_states(session: Session) -> list[ChannelState]:
    """The paused channels (one cheap query when none is, as on every admin page)."""
    if session.scalar(select(func.count()).select_from(paused_channel_names().subquery())) == 0:
        return []
    return [state for state in channel_states(session) if state.paused]


def _state(channel: str, pause: ChannelPause | None, queued: int) -> ChannelState:
    if pause is None:
        return ChannelState(channel, paused=False, queued=queued)
    if pause.paused_at is None:
        return ChannelState(channel, paused=False, queued=queued, resumed_at=pause.resumed_at)
    return ChannelState(channel, paused=True, queued=queued, provider=pause.provider, error=pause.error,
                        error_code=pause.error_code, paused_at=pause.paused_at, resumed_at=pause.resumed_at)

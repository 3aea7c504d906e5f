"""Sending channels: whether email and SMS are paused (the provider refused the credentials) and
resuming one. Both need the API key of an admin."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from flask import Response, g, jsonify
from pydantic import BaseModel, Field

from crm_segments.db import utcnow
from crm_segments.messages.channel_pauses import ChannelState, channel_state, channel_states, resume_channel
from crm_segments.web.db import db_session

from .routes import ADMIN_ONLY, Route

CHANNELS = "channels"


class ChannelOut(BaseModel):
    channel: Literal["email", "sms"]
    paused: bool = Field(description="The provider refused the credentials: nothing is sent on this "
                                     "channel and its messages stay queued until it is resumed.")
    queued: int = Field(description="Messages waiting to go out on this channel.")
    provider: str | None = Field(description="The provider that refused, while paused.")
    error: str | None = Field(description="The provider's error, while paused.")
    error_code: str | None
    paused_at: dt.datetime | None
    resumed_at: dt.datetime | None = Field(description="When the last pause was resumed.")


class ChannelList(BaseModel):
    items: list[ChannelOut]


def _out(state: ChannelState) -> dict[str, object]:
    out = ChannelOut(channel=state.channel, paused=state.paused, queued=state.queued,
                     provider=state.provider, error=state.error, error_code=state.error_code,
                     paused_at=state.paused_at, resumed_at=state.resumed_at)
    return out.model_dump(mode="json")


def list_channels() -> Response:
    return jsonify(items=[_out(state) for state in channel_states(db_session())])


def resume(channel: str) -> Response:
    session = db_session()
    resume_channel(session, channel, user_id=g.crm_api_user.id, now=utcnow())  # NotFound: 404
    return jsonify(_out(channel_state(session, channel)))


def channel_routes() -> list[Route]:
    return [
        Route("/channels", "GET", "channels_list", list_channels,
              "List the sending channels and whether each is paused", CHANNELS, out=ChannelList,
              errors=(401, 403), roles=ADMIN_ONLY),
        Route("/channels/<channel>/resume", "POST", "channels_resume", resume,
              "Resume a channel paused after its provider refused the credentials; its queued messages "
              "go out with the next dispatch (resuming a channel that is not paused changes nothing)",
              CHANNELS, out=ChannelOut, errors=(401, 403, 404), roles=ADMIN_ONLY),
    ]

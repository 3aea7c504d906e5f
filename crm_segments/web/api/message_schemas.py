"""Request and response shapes of the message and message template endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Literal, get_args

from pydantic import AwareDatetime, BaseModel, Field

from crm_segments.models.messaging import MESSAGE_STATUSES
from crm_segments.schemas._base import FilterModel, InputModel, OutputModel
from crm_segments.schemas._types import MAX_ID, Id

from .workflow_schemas import ResultsOut

StatusName = Literal["pending", "sending", "unknown", "unconfirmed", "sent", "delivered", "opened",
                     "clicked", "bounced", "dropped", "failed", "undelivered", "unsubscribed", "spam_report",
                     "suppressed", "skipped"]
assert set(get_args(StatusName)) == set(MESSAGE_STATUSES), "StatusName must list every message status"


class MessageFilters(FilterModel):
    channel: Literal["email", "sms"] | None = None
    status: StatusName | None = None
    category: Literal["transactional", "marketing", "test"] | None = None
    workflow_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    segment_id: int | None = Field(default=None, ge=1, le=MAX_ID,
                                   description="Messages of the workflows this segment triggers.")
    profile_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    q: str = Field(default="", max_length=100, description="The profile's email or name (prefix).")
    template: str | None = Field(default=None, description="A template key, e.g. sales/quote_follow_up.")
    since: AwareDatetime | None = Field(default=None, description="Created at or after this time.")
    until: AwareDatetime | None = Field(default=None, description="Created before this time.")


class UnconfirmedIn(InputModel):
    """Which unconfirmed messages: every one the filters select (the message log's, but for status),
    or only those of ``ids`` among them. Send ``{}`` for all of them."""

    ids: list[Id] | None = Field(default=None, min_length=1, max_length=1000,
                                  description="Only these messages (those still unconfirmed).")
    channel: Literal["email", "sms"] | None = None
    category: Literal["transactional", "marketing", "test"] | None = None
    workflow_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    segment_id: int | None = Field(default=None, ge=1, le=MAX_ID,
                                   description="Messages of the workflows this segment triggers.")
    profile_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    q: str = Field(default="", max_length=100, description="The profile's email or name (prefix).")
    template: str | None = Field(default=None, description="A template key, e.g. sales/quote_follow_up.")
    since: AwareDatetime | None = Field(default=None, description="Created at or after this time.")
    until: AwareDatetime | None = Field(default=None, description="Created before this time.")


class UnconfirmedOut(BaseModel):
    count: int = Field(description="How many unconfirmed messages were sent again (or closed).")


class MessageOut(OutputModel):
    id: int
    channel: str
    category: str
    status: str
    status_reason: str | None
    template_key: str
    profile_id: int
    workflow_id: int | None
    enrollment_id: int | None
    step_key: str | None
    recipient_user_id: int | None
    record_type: str | None
    record_id: int | None
    to_address: str | None
    subject: str | None
    provider: str | None
    provider_message_id: str | None
    attempts: int
    last_error: str | None
    error_code: str | None
    next_attempt_at: dt.datetime
    created_at: dt.datetime
    rendered_at: dt.datetime | None
    sent_at: dt.datetime | None
    delivered_at: dt.datetime | None
    opened_at: dt.datetime | None
    clicked_at: dt.datetime | None
    failed_at: dt.datetime | None


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_after: int | None = Field(description="Pass as `after` for the next (older) page; null on the last.")


class MessageEventOut(OutputModel):
    id: int
    provider: str
    event: str
    detail: str
    occurred_at: dt.datetime
    received_at: dt.datetime


class MessageDetailOut(MessageOut):
    html_body: str | None = Field(description="The rendered HTML part; null until rendered or for SMS.")
    text_body: str = Field(description="The rendered text (or SMS); empty until rendered.")
    events: list[MessageEventOut] = Field(description="Delivery events from the provider, oldest first.")


class TemplateFilters(FilterModel):
    channel: Literal["email", "sms"] | None = None
    content_type: Literal["evergreen", "seasonal", "transactional", "sales", "marketing",
                          "congratulatory", "trendy"] | None = None


class TemplateOut(BaseModel):
    key: str
    channel: str
    content_type: str
    name: str
    subject: str | None
    html_body: str | None
    text_body: str
    origin: Literal["shipped", "edited", "custom"] = Field(
        description="shipped: the file is used; edited: a saved edit overrides the file; custom: "
                    "exists only here.")


class TemplateList(BaseModel):
    items: list[TemplateOut]


class TemplateIn(InputModel):
    subject: str | None = Field(default=None, description="Email only; required for email.")
    html_body: str | None = Field(default=None, description="Email only; optional.")
    text_body: str = Field(description="The text part of an email, or the SMS text.")


class PreviewIn(InputModel):
    profile_id: int | None = Field(default=None, ge=1, le=MAX_ID,
                                   description="Default: the profile of the latest "
                                   "record the template shows, else the latest profile.")
    record_type: Literal["quote", "job", "opportunity", "ticket"] | None = None
    record_id: int | None = Field(default=None, ge=1, le=MAX_ID,
                                  description="Default: the profile's latest record "
                                  "of the type the template shows.")
    subject: str | None = Field(default=None, description="Preview this text instead of the saved one.")
    html_body: str | None = Field(default=None, description="Preview this text instead of the saved one.")
    text_body: str | None = Field(default=None, description="Preview this text instead of the saved one.")


class PreviewOut(BaseModel):
    profile_id: int
    record_type: str | None
    record_id: int | None
    subject: str | None
    html: str | None
    text: str


class SegmentResultOut(ResultsOut):
    segment_id: int
    segment_name: str
    workflows: int = Field(description="How many workflows this segment triggers.")


class SegmentResultList(BaseModel):
    items: list[SegmentResultOut]

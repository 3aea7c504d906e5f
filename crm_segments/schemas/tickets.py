"""Support ticket schemas; ``closed_at`` is set to now when the status becomes solved or closed."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AwareDatetime, Field

from crm_segments.models.records import TICKET_PRIORITIES, TICKET_STATUSES

from ._base import InputModel, OutputModel, RecordFilters, partial, profile_key
from ._types import ExternalId, Id, OneOf, Text


class TicketCreate(InputModel):
    external_id: ExternalId
    profile_id: Id | None = None
    profile_external_id: ExternalId | None = profile_key()
    subject: Annotated[str, Text(255)] = ""
    body: str | None = None
    status: Annotated[str, OneOf(TICKET_STATUSES)] = "open"
    priority: Annotated[str, OneOf(TICKET_PRIORITIES)] = "normal"
    opened_at: AwareDatetime | None = Field(default=None, description="Defaults to now.")
    closed_at: AwareDatetime | None = None


TicketUpdate = partial(TicketCreate, "TicketUpdate")


class TicketOut(OutputModel):
    id: int
    external_id: str
    profile_id: int
    subject: str
    body: str | None
    status: str
    priority: str
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class TicketFilters(RecordFilters):
    status: Annotated[str, OneOf(TICKET_STATUSES)] | None = None
    priority: Annotated[str, OneOf(TICKET_PRIORITIES)] | None = None

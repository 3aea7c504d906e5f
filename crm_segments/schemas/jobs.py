"""Job schemas. A job may come from a quote (by id or external id); ``lines`` replaces all lines."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AwareDatetime, Field

from crm_segments.models.records import JOB_STATUSES

from ._base import InputModel, OutputModel, partial, profile_key
from ._types import Currency, ExternalId, Id, Money, MoneyOut, OneOf, Text
from .lines import LineIn, LineOut
from .list_filters import ListedRecordFilters


class JobCreate(InputModel):
    external_id: ExternalId
    profile_id: Id | None = None
    profile_external_id: ExternalId | None = profile_key()
    quote_id: Id | None = None
    quote_external_id: ExternalId | None = Field(
        default=None, description="The quote's external_id; an alternative to quote_id."
    )
    title: Annotated[str, Text(200)] = ""
    status: Annotated[str, OneOf(JOB_STATUSES)] = "scheduled"
    amount: Money | None = Field(default=None, description="Defaults to the sum of the lines' amounts.")
    currency: Currency = "USD"
    scheduled_at: AwareDatetime | None = None
    started_at: AwareDatetime | None = Field(
        default=None, description="Set to now when status becomes in_progress."
    )
    finished_at: AwareDatetime | None = Field(
        default=None, description="Set to now when status becomes completed."
    )
    lines: list[LineIn] | None = None


JobUpdate = partial(JobCreate, "JobUpdate")


class JobOut(OutputModel):
    id: int
    external_id: str
    profile_id: int
    quote_id: int | None
    title: str
    status: str
    amount: MoneyOut
    currency: str
    scheduled_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    lines: list[LineOut]


class JobFilters(ListedRecordFilters):
    status: Annotated[str, OneOf(JOB_STATUSES)] | None = None
    quote_id: Id | None = None

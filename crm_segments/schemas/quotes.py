"""Quote schemas. ``lines``, when given, replaces all the quote's lines; ``total`` defaults to their sum."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AwareDatetime, Field

from crm_segments.models.records import QUOTE_STATUSES

from ._base import InputModel, OutputModel, partial, profile_key
from ._types import Currency, ExternalId, Id, Money, MoneyOut, OneOf, Text
from .lines import LineIn, LineOut
from .list_filters import ListedRecordFilters


class QuoteCreate(InputModel):
    external_id: ExternalId
    profile_id: Id | None = None
    profile_external_id: ExternalId | None = profile_key()
    number: Annotated[str, Text(40, min_length=1)]
    status: Annotated[str, OneOf(QUOTE_STATUSES)] = "draft"
    total: Money | None = Field(default=None, description="Defaults to the sum of the lines' amounts.")
    currency: Currency = "USD"
    sent_at: AwareDatetime | None = Field(default=None, description="Set to now when status becomes sent.")
    decided_at: AwareDatetime | None = Field(
        default=None, description="Set to now when status becomes accepted or declined."
    )
    expires_at: AwareDatetime | None = None
    lines: list[LineIn] | None = None


QuoteUpdate = partial(QuoteCreate, "QuoteUpdate")


class QuoteOut(OutputModel):
    id: int
    external_id: str
    profile_id: int
    number: str
    status: str
    total: MoneyOut
    currency: str
    sent_at: dt.datetime | None
    decided_at: dt.datetime | None
    expires_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    lines: list[LineOut]


class QuoteFilters(ListedRecordFilters):
    status: Annotated[str, OneOf(QUOTE_STATUSES)] | None = None
    number: str | None = None

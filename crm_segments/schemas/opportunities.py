"""Opportunity schemas; ``closed_at`` is set to now when the stage becomes won or lost."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime

from crm_segments.models.records import OPPORTUNITY_STAGES

from ._base import InputModel, OutputModel, partial, profile_key
from ._types import Currency, ExternalId, Id, Money, MoneyOut, OneOf, Text
from .list_filters import ListedRecordFilters


class OpportunityCreate(InputModel):
    external_id: ExternalId
    profile_id: Id | None = None
    profile_external_id: ExternalId | None = profile_key()
    name: Annotated[str, Text(200)] = ""
    stage: Annotated[str, OneOf(OPPORTUNITY_STAGES)] = "prospecting"
    value: Money = Decimal("0")
    currency: Currency = "USD"
    source: Annotated[str, Text(80)] | None = None
    expected_close: dt.date | None = None
    closed_at: AwareDatetime | None = None


OpportunityUpdate = partial(OpportunityCreate, "OpportunityUpdate")


class OpportunityOut(OutputModel):
    id: int
    external_id: str
    profile_id: int
    name: str
    stage: str
    value: MoneyOut
    currency: str
    source: str | None
    expected_close: dt.date | None
    closed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class OpportunityFilters(ListedRecordFilters):
    stage: Annotated[str, OneOf(OPPORTUNITY_STAGES)] | None = None

"""The filter of the quote, job and opportunity lists, one model per type for the API and the UI.

The UI passes its query string (every field as text, empty meaning "any") and the API its query
parameters into the same model; a bad field is refused with a message naming it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from crm_segments.kernel.list_filters import MAX_SEARCH_LENGTH, normalize_search

from ._base import RecordFilters

MAX_AMOUNT = Decimal("999999999999.99")  # the Money column's largest value


def _date(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise PydanticCustomError("date", "must be a date such as 2026-03-31 (year-month-day)")


def _amount(value: Any) -> Any:
    amount: Decimal | None = None
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int) and not isinstance(value, bool):
        amount = Decimal(value)
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            amount = None
    if amount is None or not amount.is_finite():
        raise PydanticCustomError("amount", "must be an amount such as 1500 or 1500.50")
    if amount < 0 or amount > MAX_AMOUNT:
        raise PydanticCustomError("amount_range", "must be between 0 and {most}", {"most": f"{MAX_AMOUNT:,}"})
    return amount


def blank_means_any(data: Any) -> Any:
    """A list's form sends every field; a blank one filters nothing."""
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
    return data


def search_text(value: Any) -> Any:
    text = normalize_search(value) if isinstance(value, str) else value
    if isinstance(text, str) and len(text) > MAX_SEARCH_LENGTH:
        raise PydanticCustomError("search", "search text is longer than {most} characters",
                                  {"most": MAX_SEARCH_LENGTH})
    return text


Day = Annotated[dt.date, BeforeValidator(_date)]
Amount = Annotated[Decimal, BeforeValidator(_amount)]


class ListedRecordFilters(RecordFilters):
    """What the record lists filter by, besides the API's profile, external id and change time."""

    q: Annotated[str, BeforeValidator(search_text)] | None = Field(
        default=None, description="The record's profile: name, email or company prefix.")
    date_from: Day | None = Field(
        default=None, description="Main date on or after this day (UTC): a quote's sent_at, a job's "
                                  "finished_at, an opportunity's expected_close.")
    date_to: Day | None = Field(default=None, description="Main date on or before this day (UTC).")
    amount_min: Amount | None = Field(default=None, description="Total, amount or value at least this.")
    amount_max: Amount | None = Field(default=None, description="Total, amount or value at most this.")
    tag: str | None = Field(default=None, description="Records with this tag (any letter case).")

    @model_validator(mode="before")
    @classmethod
    def _empty_means_any(cls, data: Any) -> Any:
        return blank_means_any(data)

    @field_validator("date_to")
    @classmethod
    def _not_before_start(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        first = info.data.get("date_from")
        if value is not None and first is not None and value < first:
            raise PydanticCustomError("date_order", "must not be before date_from")
        return value

    @field_validator("amount_max")
    @classmethod
    def _not_below_minimum(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        low = info.data.get("amount_min")
        if value is not None and low is not None and value < low:
            raise PydanticCustomError("amount_order", "must not be less than amount_min")
        return value

"""Profile input, output and filter schemas.

Consent: ``email_consent`` and ``sms_consent`` are the only consent fields a client sends; when a
value changes the service records the time and the source (api, import, ui) itself, and a consent
history row (profiles/consent.py).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)
from pydantic_core import PydanticCustomError

from crm_segments.kernel.list_filters import NO_OWNER
from crm_segments.models.profiles import (
    EDUCATION_LEVELS,
    FAMILY_STATUSES,
    GENDERS,
    INCOME_BANDS,
    LIFECYCLE_STATUSES,
)

from ._base import FilterModel, InputModel, OutputModel, partial
from ._types import MAX_ID, Country, Email, ExternalId, Id, Money, MoneyOut, OneOf, Phone, Text, TimeZone
from .list_filters import blank_means_any, search_text

MAX_CUSTOM_ATTRIBUTES_BYTES = 64 * 1024
CONSENT_CHANGE = ("A change records its time and the source api on the profile, and a row of its consent "
                  "history naming the API key (GET /profiles/{id}/consent-history).")
MAX_CUSTOM_ATTRIBUTES = 200


def _small_blob(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, default=str).encode())
    if size > MAX_CUSTOM_ATTRIBUTES_BYTES:
        raise PydanticCustomError("too_large", "at most {limit} bytes as JSON, got {size}",
                                  {"limit": MAX_CUSTOM_ATTRIBUTES_BYTES, "size": size})
    return value


# Stored whole in one JSON column and read by every custom-field rule: kept small.
CustomAttributes = Annotated[
    dict[str, Any], AfterValidator(_small_blob),
    Field(max_length=MAX_CUSTOM_ATTRIBUTES,
          description=f"At most {MAX_CUSTOM_ATTRIBUTES} keys and {MAX_CUSTOM_ATTRIBUTES_BYTES} bytes "
                      "as JSON."),
]


# Users' emails are stored lower-cased (accounts/users.py), so the owner is looked up that way.
OwnerEmail = Annotated[Email, AfterValidator(str.lower)]


class ProfileCreate(InputModel):
    external_id: ExternalId = Field(description="The host CRM's key for this profile.")
    owner_id: Id | None = Field(default=None, description="The user who looks after this customer.")
    owner_email: OwnerEmail | None = Field(
        default=None, description="The owner's sign-in email; an alternative to owner_id."
    )
    first_name: Annotated[str, Text(100)] | None = None
    last_name: Annotated[str, Text(100)] | None = None
    email: Email | None = None
    phone: Phone | None = None
    company: Annotated[str, Text(200)] | None = None
    job_title: Annotated[str, Text(120)] | None = None
    industry: Annotated[str, Text(80)] | None = None
    company_size: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    annual_revenue: Money | None = None
    birth_date: dt.date | None = None
    gender: Annotated[str, OneOf(GENDERS)] | None = None
    income_band: Annotated[str, OneOf(INCOME_BANDS)] | None = None
    education: Annotated[str, OneOf(EDUCATION_LEVELS)] | None = None
    occupation: Annotated[str, Text(120)] | None = None
    family_status: Annotated[str, OneOf(FAMILY_STATUSES)] | None = None
    interests: list[Annotated[str, Text(80, min_length=1)]] | None = None
    city: Annotated[str, Text(120)] | None = None
    region: Annotated[str, Text(120)] | None = None
    country: Country | None = None
    postal_code: Annotated[str, Text(20)] | None = None
    time_zone: TimeZone | None = None
    acquisition_source: Annotated[str, Text(80)] | None = None
    acquisition_channel: Annotated[str, Text(80)] | None = None
    acquisition_campaign: Annotated[str, Text(120)] | None = None
    lifecycle_status: Annotated[str, OneOf(LIFECYCLE_STATUSES)] = "lead"
    email_consent: bool = Field(default=False, description=CONSENT_CHANGE)
    sms_consent: bool = Field(default=False, description=CONSENT_CHANGE)
    custom_attributes: CustomAttributes | None = None


ProfileUpdate = partial(ProfileCreate, "ProfileUpdate")


class ProfileOut(OutputModel):
    id: int
    external_id: str
    owner_id: int | None = None
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    company: str | None
    job_title: str | None
    industry: str | None
    company_size: int | None
    annual_revenue: MoneyOut | None
    birth_date: dt.date | None
    gender: str | None
    income_band: str | None
    education: str | None
    occupation: str | None
    family_status: str | None
    interests: list[str] | None
    city: str | None
    region: str | None
    country: str | None
    postal_code: str | None
    time_zone: str | None
    acquisition_source: str | None
    acquisition_channel: str | None
    acquisition_campaign: str | None
    lifecycle_status: str
    email_consent: bool
    email_consent_at: dt.datetime | None
    email_consent_source: str | None
    sms_consent: bool
    sms_consent_at: dt.datetime | None
    sms_consent_source: str | None
    email_bounced_at: dt.datetime | None = Field(
        default=None, description="Set by a hard bounce or spam report; cleared when the email changes."
    )
    custom_attributes: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime


def _segment_id(value: Any) -> Any:
    raw = value.strip() if isinstance(value, str) else value
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 10:
        raw = int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and raw <= MAX_ID:
        return raw
    raise PydanticCustomError("segment", "must be a segment id (a whole number)")


def _owner(value: Any) -> Any:
    raw = str(value).strip() if not isinstance(value, bool) else ""
    if raw == NO_OWNER:
        return NO_OWNER
    if raw.isascii() and raw.isdigit() and len(raw) <= 10:
        return int(raw)
    raise PydanticCustomError("owner", f"must be a user id (a whole number) or {NO_OWNER!r}")


class ProfileFilters(FilterModel):
    """The profiles list's filter, for the API and the UI alike (a blank field filters nothing)."""

    q: Annotated[str, BeforeValidator(search_text)] | None = Field(
        default=None, description="Email, first name, last name or company prefix; or \"first last\".")
    region: str | None = None
    lifecycle: Annotated[str, OneOf(LIFECYCLE_STATUSES)] | None = Field(
        default=None, validation_alias=AliasChoices("lifecycle", "lifecycle_status"),
        description="The lifecycle status (also accepted as lifecycle_status).")
    tag: str | None = Field(default=None, description="Profiles with this tag (any letter case).")
    segment: Annotated[int, BeforeValidator(_segment_id)] | None = Field(
        default=None, description="Current members of this segment id.")
    owner: Annotated[int | Literal["none"], BeforeValidator(_owner)] | None = Field(
        default=None, validation_alias=AliasChoices("owner", "owner_id"),
        description="The user id of the profiles' owner, or none for profiles nobody owns (also accepted "
                    "as owner_id).")
    external_id: str | None = None
    email: str | None = None
    country: str | None = None
    updated_since: AwareDatetime | None = Field(
        default=None, description="Only profiles changed at or after this time (with a time zone)."
    )

    model_config = ConfigDict(populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_means_any(cls, data: Any) -> Any:
        return blank_means_any(data)

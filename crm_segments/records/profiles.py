"""Profiles as a record type."""

from __future__ import annotations

from typing import Any

from crm_segments.models import Profile
from crm_segments.schemas import ProfileCreate, ProfileFilters, ProfileOut, ProfileUpdate

from .derive import record_consent
from .kind import Kind, WriteContext


def _derive(values: dict[str, Any], existing: Any, ctx: WriteContext) -> None:
    record_consent(values, existing, ctx)
    # A bounce blocks email to the address that bounced; a new address may be tried again.
    if existing is not None and "email" in values and values["email"] != existing.email:
        values["email_bounced_at"] = None


PROFILES = Kind(
    name="profiles", label="profile", model=Profile,
    create_schema=ProfileCreate, update_schema=ProfileUpdate, out_schema=ProfileOut,
    filter_schema=ProfileFilters, owner="id", derive=_derive,
)

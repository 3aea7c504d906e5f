"""Profiles as a record type."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from crm_segments.kernel.list_filters import NO_OWNER
from crm_segments.models import ConsentChange, Profile
from crm_segments.models.messaging import CHANNELS
from crm_segments.profiles.consent import ACTOR_LENGTH
from crm_segments.profiles.queries import ProfileFilter
from crm_segments.schemas import ProfileCreate, ProfileFilters, ProfileOut, ProfileUpdate

from .derive import record_consent
from .kind import Kind, WriteContext
from .references import OWNER
from .validation import validate


def parse_profile_filter(args: Mapping[str, Any], *, prefix: str = "") -> ProfileFilter:
    """The profiles list's filter from a query string or a form (blank fields filter nothing), checked
    by ``ProfileFilters`` for the API and the UI alike; ValidationFailed names each bad field."""
    given = validate(ProfileFilters, dict(args), prefix=prefix)
    values = given.model_dump(exclude_none=True)
    owner = values.pop("owner", None)
    return ProfileFilter(
        q=values.pop("q", ""), region=values.pop("region", None), lifecycle=values.pop("lifecycle", None),
        tag=values.pop("tag", None) or None, segment=values.pop("segment", None),
        owner=owner if isinstance(owner, int) else None, unowned=owner == NO_OWNER,
        updated_since=values.pop("updated_since", None), exact=tuple(sorted(values.items())))


def profile_filter(**fields: Any) -> ProfileFilter:
    """``parse_profile_filter`` of the fields given (None: not given)."""
    return parse_profile_filter({k: v for k, v in fields.items() if v is not None})


def _derive(values: dict[str, Any], existing: Any, ctx: WriteContext) -> None:
    record_consent(values, existing, ctx)
    # A bounce blocks email to the address that bounced; a new address may be tried again.
    if existing is not None and "email" in values and values["email"] != existing.email:
        values["email_bounced_at"] = None


def _consent_history(session: Session, items: Sequence[Any],
                     ctx: WriteContext) -> Callable[[Sequence[Any]], None]:
    """A history row for each consent the write changes (``record_consent`` stamped its time); a new
    profile without consent has nothing to record."""
    planned: list[tuple[int, ConsentChange]] = []
    for index, item in enumerate(items):
        for channel in CHANNELS:
            flag = f"{channel}_consent"
            if f"{flag}_at" not in item.values or (item.existing is None and not item.values[flag]):
                continue
            old = item.existing
            planned.append((index, ConsentChange(
                channel=channel, old_value=bool(old is not None and getattr(old, flag)),
                new_value=bool(item.values[flag]), source=ctx.source, actor=ctx.actor[:ACTOR_LENGTH],
                previous_source=getattr(old, f"{flag}_source") if old is not None else None,
                previous_at=getattr(old, f"{flag}_at") if old is not None else None,
                user_id=ctx.user_id, changed_at=ctx.now)))

    def write(rows: Sequence[Any]) -> None:
        for index, change in planned:
            change.profile_id = rows[index].id
            session.add(change)
        if planned:
            session.flush()

    return write


PROFILES = Kind(
    name="profiles", label="profile", model=Profile,
    create_schema=ProfileCreate, update_schema=ProfileUpdate, out_schema=ProfileOut,
    filter_schema=ProfileFilters, references=(OWNER,), owner="id", derive=_derive, audit=_consent_history,
)

"""Previewing a template (saved or being edited) against a real profile and a sample triggering
record, such as the profile's latest quote (send_test.py sends a saved template to a user).

Problems come back as ValidationFailed naming the part's field (``subject``, ``html_body``,
``text_body``) and the line, as saving does; a render past its limits (time, memory, output size) is
one of them. Saving a template renders it for the preview profile too, and refuses it when that render
hits a limit (``preview_profile_limits``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.kernel.record_ids import parse_id
from crm_segments.models import Profile
from crm_segments.models.record_types import record_models
from crm_segments.profiles.queries import search_condition

from .rendering import TemplateProblem, names_used, render_all
from .template_store import TemplateSource

PART_FIELDS = {"subject": "subject", "html": "html_body", "text": "text_body", "sms": "text_body"}
SAVE_CHECK_BASE_URL = "https://crm.example.com"  # the unsubscribe link's host when a save renders a preview


@dataclass(frozen=True)
class Preview:
    profile: Profile
    record_type: str | None
    record_id: int | None
    parts: dict[str, str]  # by kind: subject, html, text / sms


def record_types_used(source: TemplateSource) -> list[str]:
    """The record types (quote, job, ...) a template's parts refer to, in registration order."""
    names: set[str] = set().union(*names_used(source.parts()).values())
    used = [name for name in record_models() if name in names]
    return used or (["quote"] if "record" in names else [])


def find_profile(session: Session, text: str) -> Profile | None:
    """A profile by id, by email or by name (the first match, exact email preferred)."""
    text = text.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():  # an id; a number larger than any id names nobody
        return session.get(Profile, profile_id) if (profile_id := parse_id(text)) is not None else None
    query = select(Profile).where(search_condition(text)).order_by(Profile.id).limit(20)
    found = list(session.scalars(query))
    exact = [p for p in found if (p.email or "").lower() == text.lower()]
    matches = exact or found
    return matches[0] if matches else None


def latest_record_id(session: Session, record_type: str, profile_id: int) -> int | None:
    model: Any = record_models()[record_type]
    found: int | None = session.scalar(select(func.max(model.id)).where(model.profile_id == profile_id))
    return found


def default_profile(session: Session, source: TemplateSource) -> Profile | None:
    """The profile of the latest record the template shows, else the latest profile."""
    for record_type in record_types_used(source):
        model: Any = record_models()[record_type]
        profile_id = session.scalar(select(model.profile_id).order_by(model.id.desc()).limit(1))
        if profile_id is not None:
            return session.get(Profile, profile_id)
    return session.scalar(select(Profile).order_by(Profile.id.desc()).limit(1))


@dataclass(frozen=True)
class _Record:
    type: str | None
    id: int | None
    missing: str | None = None  # the type the template shows that the profile has none of


def _record(session: Session, source: TemplateSource, profile: Profile, record_type: str | None,
            record_id: int | None) -> _Record:
    if record_type is not None and record_type not in record_models():
        raise ValidationFailed([FieldError("record_type", f"must be one of {', '.join(record_models())}")])
    chosen = record_type is not None
    if record_type is None:
        used = record_types_used(source)
        record_type = used[0] if used else None
    if record_type is None:
        return _Record(None, None)
    if record_id is None:
        record_id = latest_record_id(session, record_type, profile.id)
        if record_id is None and chosen:
            raise ValidationFailed([_no_record(profile, record_type)])
        # A template may show the record only when there is one: try without it.
        return _Record(record_type, record_id) if record_id is not None else _Record(None, None, record_type)
    model: Any = record_models()[record_type]
    record = session.get(model, record_id)
    if record is None or record.profile_id != profile.id:
        raise ValidationFailed([FieldError("record_id", f"{record_type} {record_id} is not one of "
                                                        "this profile's records")])
    return _Record(record_type, record_id)


def _no_record(profile: Profile, record_type: str) -> FieldError:
    name = profile.full_name or profile.email or f"profile {profile.id}"
    return FieldError("record_type", f"{name} has no {record_type} to show; choose a profile that has one")


def preview_template(session: Session, source: TemplateSource, *, profile: Profile | None, base_url: str,
                     record_type: str | None = None, record_id: int | None = None) -> Preview:
    """Every part rendered for ``profile`` (default: see ``default_profile``) and a triggering record
    (default: the profile's latest record of the type the template shows)."""
    from .compose import preview

    profile = profile or default_profile(session, source)
    if profile is None:
        raise ValidationFailed([FieldError("profile_id", "there is no profile to preview with yet")])
    record = _record(session, source, profile, record_type, record_id)
    try:
        parts = preview(session, source, profile=profile, base_url=base_url, record_type=record.type,
                        record_id=record.id)
    except TemplateProblem as exc:
        if record.missing is not None and not exc.limit:  # a limit is the template's, whatever the record
            raise ValidationFailed([_no_record(profile, record.missing)]) from None
        raise ValidationFailed([FieldError(PART_FIELDS.get(exc.kind, exc.kind), exc.message)]) from None
    return Preview(profile, record.type, record.id, parts)


def preview_profile_limits(session: Session, source: TemplateSource) -> list[FieldError]:
    """The render limits (time, memory, output size) ``source`` goes past for the profile and record the
    preview shows first, as errors on the parts' fields; other problems are the sample's to find."""
    from .compose import preview_context

    profile = default_profile(session, source)
    if profile is None:
        return []
    record = _record(session, source, profile, None, None)
    context = preview_context(session, profile=profile, base_url=SAVE_CHECK_BASE_URL, record_type=record.type,
                              record_id=record.id)
    _, problems = render_all(source.parts(), context)
    name = profile.full_name or profile.email or f"profile {profile.id}"
    return [FieldError(PART_FIELDS.get(kind, kind), f"{problem.message} (rendered for {name}, the preview "
                                                    "profile)")
            for kind, problem in problems.items() if problem.limit]

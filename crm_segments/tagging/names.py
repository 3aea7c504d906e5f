"""Tag names: what a valid name is, and finding or creating a tag by name (case-insensitively)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from pydantic_core import PydanticCustomError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.config import DEFAULT_TAGS_PER_REQUEST, DEFAULT_TAGS_PER_USER_PER_MINUTE
from crm_segments.db import utcnow
from crm_segments.kernel.errors import FieldError, RateLimited, ValidationFailed
from crm_segments.kernel.sql import dialect_name, execute_count, insert_ignore
from crm_segments.models import Tag
from crm_segments.models.tags import normalize_tag_name
from crm_segments.schemas.tags import DEFAULT_COLOR, clean_name

# New tags one person may create per minute (CRM_SEGMENTS_TAGS_PER_USER_PER_MINUTE); None: no limit.
DEFAULT_TAGS_PER_MINUTE = DEFAULT_TAGS_PER_USER_PER_MINUTE
RATE_WINDOW = dt.timedelta(minutes=1)
_RATE_LOCK_NAMESPACE = 0x544147  # "TAG": pg_advisory_xact_lock(namespace, user id)


def clean_tag_name(name: object, *, field: str = "name") -> str:
    """The name trimmed, with inner whitespace collapsed; ValidationFailed names ``field`` if invalid
    (the rule of the tag input models, for names typed where a tag is added or looked up)."""
    try:
        return clean_name(name)
    except PydanticCustomError as exc:
        raise ValidationFailed([FieldError(field, exc.message())]) from None


def find_tag(*, session: Session, name: str) -> Tag | None:
    return session.scalar(select(Tag).where(Tag.name_key == normalize_tag_name(name)))


def check_creation_rate(*, session: Session, user_id: int | None, new: int, per_minute: int | None,
                        now: dt.datetime | None = None) -> None:
    """RateLimited when ``new`` more tags would make the user's creations in the last minute (their
    tags' ``created_by_id`` and ``created_at``) exceed ``per_minute``. Tags made by the product (no
    user) are not limited. On PostgreSQL one user's creations are counted one transaction at a time
    (an advisory lock until commit), so concurrent requests cannot each pass the count."""
    if user_id is None or per_minute is None or new <= 0:
        return
    now = now or utcnow()
    if dialect_name(session) == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_RATE_LOCK_NAMESPACE, user_id)))
    session.flush()
    recent, oldest = session.execute(
        select(func.count(), func.min(Tag.created_at))
        .where(Tag.created_by_id == user_id, Tag.created_at > now - RATE_WINDOW)).one()
    if recent + new <= per_minute:
        return
    wait = (oldest + RATE_WINDOW - now).total_seconds() if oldest is not None else 60
    raise RateLimited(
        f"at most {per_minute} new tags a minute per person: you created {recent} in the last minute "
        f"and this would add {new}; use existing tags or try again in {max(1, math.ceil(wait))} s",
        retry_after=max(1, math.ceil(wait)))


def get_or_create_tag(
    *, session: Session, name: object, created_by_id: int | None = None,
    color: str = DEFAULT_COLOR, description: str = "", field: str = "name",
    per_minute: int | None = DEFAULT_TAGS_PER_MINUTE,
) -> tuple[Tag, bool]:
    """The tag with this name in any letter case, created if missing; ``(tag, created)``.

    ``INSERT ... ON CONFLICT DO NOTHING`` on the unique name key makes two people creating the same
    tag at once both end up with the one tag instead of one of them getting an error. A person
    creating it is held to ``per_minute`` new tags a minute (RateLimited).
    """
    cleaned = clean_tag_name(name, field=field)
    key = normalize_tag_name(cleaned)
    existing = session.scalar(select(Tag).where(Tag.name_key == key))
    if existing is not None:
        return existing, False
    check_creation_rate(session=session, user_id=created_by_id, new=1, per_minute=per_minute)
    session.flush()
    created = execute_count(session, insert_ignore(session, Tag.__table__).values(
        name=cleaned, name_key=key, color=color, description=description, created_by_id=created_by_id,
    ))
    tag = session.scalars(select(Tag).where(Tag.name_key == key)).one()
    return tag, bool(created)


def check_tags_per_request(names: Sequence[object], *, field: str = "tags",
                           per_request: int = DEFAULT_TAGS_PER_REQUEST) -> None:
    """ValidationFailed (naming ``field``) unless 1 to ``per_request`` names are given
    (CRM_SEGMENTS_TAGS_PER_REQUEST)."""
    if not names:
        raise ValidationFailed([FieldError(field, "give at least one tag")])
    if len(names) > per_request:
        raise ValidationFailed([FieldError(
            field, f"at most {per_request} tags at once (this request names {len(names):,})")])


def get_or_create_tags(
    *, session: Session, names: Sequence[object], created_by_id: int | None = None, field: str = "tags",
    per_minute: int | None = DEFAULT_TAGS_PER_MINUTE, per_request: int = DEFAULT_TAGS_PER_REQUEST,
) -> list[Tag]:
    """Several tags by name, in order, without duplicates; every name is checked before any is created.

    At most ``per_request`` names, and the new ones count against ``per_minute`` all at once:
    either every missing tag is created or none is."""
    check_tags_per_request(names, field=field, per_request=per_request)
    errors: list[FieldError] = []
    cleaned: dict[str, str] = {}
    for index, name in enumerate(names):
        try:
            value = clean_tag_name(name, field=f"{field}[{index}]")
        except ValidationFailed as exc:
            errors.extend(exc.errors)
            continue
        cleaned.setdefault(normalize_tag_name(value), value)
    if errors:
        raise ValidationFailed(errors)
    known = set(session.scalars(select(Tag.name_key).where(Tag.name_key.in_(list(cleaned)))))
    check_creation_rate(session=session, user_id=created_by_id, new=len(set(cleaned) - known),
                        per_minute=per_minute)
    return [get_or_create_tag(session=session, name=value, created_by_id=created_by_id, per_minute=None)[0]
            for value in cleaned.values()]


def existing_tags(
    *, session: Session, names: Sequence[object], field: str = "tags",
    per_request: int = DEFAULT_TAGS_PER_REQUEST,
) -> list[Tag]:
    """Several tags that must exist (to remove them), in order; every missing name is an error."""
    check_tags_per_request(names, field=field, per_request=per_request)
    found: list[Tag] = []
    errors: list[FieldError] = []
    for index, name in enumerate(names):
        try:
            tag = find_tag(session=session, name=clean_tag_name(name, field=f"{field}[{index}]"))
        except ValidationFailed as exc:
            errors.extend(exc.errors)
            continue
        if tag is None:
            errors.append(FieldError(f"{field}[{index}]", f"no tag named {name!r}"))
        else:
            found.append(tag)
    if errors:
        raise ValidationFailed(errors)
    return found

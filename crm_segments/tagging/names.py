"""Tag names: what a valid name is, and finding or creating a tag by name (case-insensitively)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.models import Tag
from crm_segments.models.tags import TAG_NAME_MAX, normalize_tag_name
from crm_segments.services.errors import FieldError, ValidationFailed

from .sql import execute_count, insert_ignore

# Letters and digits of any script, spaces and a few punctuation marks. Commas are out so a list
# of names can be typed "a, b"; quotes, angle brackets and control characters are out so a name
# is safe everywhere it is shown or exported.
_ALLOWED = re.compile(r"[\w .&+/:#()'!?-]+")
ALLOWED_DESCRIPTION = "letters, digits, spaces and . & + / : # ( ) ' ! ? - _"
_HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
DEFAULT_COLOR = "#6b7280"
DESCRIPTION_MAX = 500


def clean_tag_name(name: object, *, field: str = "name") -> str:
    """The name trimmed, with inner whitespace collapsed; ValidationFailed names ``field`` if invalid."""
    if not isinstance(name, str):
        raise ValidationFailed([FieldError(field, "must be a text value")])
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValidationFailed([FieldError(field, "a tag name cannot be empty")])
    if len(cleaned) > TAG_NAME_MAX:
        raise ValidationFailed([FieldError(
            field, f"a tag name is at most {TAG_NAME_MAX} characters (this one has {len(cleaned)})")])
    if not _ALLOWED.fullmatch(cleaned):
        bad = sorted({c for c in cleaned if not _ALLOWED.fullmatch(c)})
        raise ValidationFailed([FieldError(
            field, f"{''.join(bad)!r} not allowed in a tag name; use {ALLOWED_DESCRIPTION}")])
    return cleaned


def clean_color(color: object, *, field: str = "color") -> str:
    if not isinstance(color, str) or not _HEX_COLOR.fullmatch(color.strip()):
        raise ValidationFailed([FieldError(field, "must be a colour like #2563eb")])
    return color.strip().lower()


def clean_description(description: object, *, field: str = "description") -> str:
    if not isinstance(description, str):
        raise ValidationFailed([FieldError(field, "must be a text value")])
    description = description.strip()
    if len(description) > DESCRIPTION_MAX:
        raise ValidationFailed([FieldError(field, f"is at most {DESCRIPTION_MAX} characters")])
    return description


def find_tag(*, session: Session, name: str) -> Tag | None:
    return session.scalar(select(Tag).where(Tag.name_key == normalize_tag_name(name)))


def get_or_create_tag(
    *, session: Session, name: object, created_by_id: int | None = None,
    color: str = DEFAULT_COLOR, description: str = "", field: str = "name",
) -> tuple[Tag, bool]:
    """The tag with this name in any letter case, created if missing; ``(tag, created)``.

    ``INSERT ... ON CONFLICT DO NOTHING`` on the unique name key makes two people creating the same
    tag at once both end up with the one tag instead of one of them getting an error.
    """
    cleaned = clean_tag_name(name, field=field)
    key = normalize_tag_name(cleaned)
    existing = session.scalar(select(Tag).where(Tag.name_key == key))
    if existing is not None:
        return existing, False
    session.flush()
    created = execute_count(session, insert_ignore(session, Tag.__table__).values(
        name=cleaned, name_key=key, color=color, description=description, created_by_id=created_by_id,
    ))
    tag = session.scalars(select(Tag).where(Tag.name_key == key)).one()
    return tag, bool(created)


def get_or_create_tags(
    *, session: Session, names: Sequence[object], created_by_id: int | None = None, field: str = "tags",
) -> list[Tag]:
    """Several tags by name, in order, without duplicates; every name is checked before any is created."""
    if not names:
        raise ValidationFailed([FieldError(field, "give at least one tag")])
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
    return [get_or_create_tag(session=session, name=value, created_by_id=created_by_id)[0]
            for value in cleaned.values()]

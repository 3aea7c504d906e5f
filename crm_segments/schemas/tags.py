"""What creating or changing a tag takes, for the API and the tag pages alike, and what a valid tag
name is (also for names typed where a tag is added or looked up).

The models check each value on its own with the messages the pages show next to their fields; the
tag service checks what needs the database (a name no other tag has, in any letter case).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from crm_segments.models.record_types import tag_entity_types
from crm_segments.models.tags import TAG_NAME_MAX

from ._base import InputModel

# Letters and digits of any script, spaces and a few punctuation marks. Commas are out so a list
# of names can be typed "a, b"; quotes, angle brackets and control characters are out so a name
# is safe everywhere it is shown or exported.
_ALLOWED = re.compile(r"[\w .&+/:#()'!?-]+")
ALLOWED_DESCRIPTION = "letters, digits, spaces and . & + / : # ( ) ' ! ? - _"
_HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
DEFAULT_COLOR = "#6b7280"
DESCRIPTION_MAX = 500


def clean_name(value: Any) -> str:
    """The name trimmed, with inner whitespace collapsed; PydanticCustomError says what is wrong."""
    if not isinstance(value, str):
        raise PydanticCustomError("tag_name", "must be a text value")
    cleaned = " ".join(value.split())
    if not cleaned:
        raise PydanticCustomError("tag_name", "a tag name cannot be empty")
    if len(cleaned) > TAG_NAME_MAX:
        raise PydanticCustomError("tag_name", "a tag name is at most {most} characters (this one has "
                                              "{length})", {"most": TAG_NAME_MAX, "length": len(cleaned)})
    if not _ALLOWED.fullmatch(cleaned):
        bad = "".join(sorted({c for c in cleaned if not _ALLOWED.fullmatch(c)}))
        raise PydanticCustomError("tag_name", "{bad} not allowed in a tag name; use {allowed}",
                                  {"bad": repr(bad), "allowed": ALLOWED_DESCRIPTION})
    return cleaned


def _entity_type(value: Any) -> Any:
    allowed = tag_entity_types()  # the types registered now
    if value not in allowed:
        raise PydanticCustomError("entity_type", "must be one of {allowed}", {"allowed": ", ".join(allowed)})
    return value


def _color(value: Any) -> Any:
    if not isinstance(value, str) or not _HEX_COLOR.fullmatch(value.strip()):
        raise PydanticCustomError("color", "must be a colour like #2563eb")
    return value.strip().lower()


def _description(value: Any) -> Any:
    if not isinstance(value, str):
        raise PydanticCustomError("description", "must be a text value")
    if len(value.strip()) > DESCRIPTION_MAX:
        raise PydanticCustomError("description", "is at most {most} characters", {"most": DESCRIPTION_MAX})
    return value.strip()


TagName = Annotated[str, BeforeValidator(clean_name),
                    Field(max_length=TAG_NAME_MAX, description="1-64 characters; unique regardless of "
                                                               "letter case.")]
# What tags attach to: "profile" or a taggable record type of the registry.
TagEntityType = Annotated[str, BeforeValidator(_entity_type),
                          Field(description='"profile" or a taggable record type ("quote", "job", ...).')]
NewTagEntityType = Annotated[str | None, BeforeValidator(_entity_type)]  # null refused, as any bad value
Color = Annotated[str, BeforeValidator(_color), Field(max_length=7, description="#rrggbb")]
Description = Annotated[str, BeforeValidator(_description), Field(max_length=DESCRIPTION_MAX)]


class TagIn(InputModel):
    name: TagName
    color: Color = DEFAULT_COLOR
    description: Description = ""


class TagPatch(InputModel):
    """Only the fields given change (null keeps the value)."""

    name: TagName | None = None
    color: Color | None = None
    description: Description | None = None

"""What creating or changing an auto-tag rule takes, for the API and the rule editor alike.

The models check each value on its own with the messages the editor shows next to its fields, the
entity type against the record types registered when it is checked; the rules service checks what
needs the database or the rule language (the condition, a unique name, the tag).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from crm_segments.models.tags import AUTO_TAG_MODES, TAG_NAME_MAX

from ._base import InputModel
from ._types import Id, OneOf
from .tags import NewTagEntityType, TagEntityType

MAX_NAME = 120
MAX_DESCRIPTION = 2000


def _name(value: Any) -> Any:
    name = " ".join(value.split()) if isinstance(value, str) else ""
    if not name or len(name) > MAX_NAME:
        raise PydanticCustomError("rule_name", "give a name of 1 to {most} characters", {"most": MAX_NAME})
    return name


def _description(value: Any) -> Any:
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
        raise PydanticCustomError("rule_description", "must be text of at most 2,000 characters")
    return value


def _mode(value: Any) -> Any:
    if value not in AUTO_TAG_MODES:
        raise PydanticCustomError("rule_mode", "must be sticky (only adds) or live (adds and removes)")
    return value


def _enabled(value: Any) -> Any:
    if not isinstance(value, bool):
        raise PydanticCustomError("rule_enabled", "must be true or false")
    return value


Name = Annotated[str, BeforeValidator(_name), Field(max_length=MAX_NAME, description="Unique.")]
Description = Annotated[str, BeforeValidator(_description), Field(max_length=MAX_DESCRIPTION)]
ModeName = Annotated[str, OneOf(AUTO_TAG_MODES)]  # listed as an enum in the schema
Mode = Annotated[ModeName, BeforeValidator(_mode),
                 Field(description="sticky only adds the tag; live also removes it.")]
Enabled = Annotated[bool, BeforeValidator(_enabled)]
Condition = Annotated[dict[str, Any], Field(description="A rule document (segment rule language) over "
                                                        "entity_type's records.")]
# In a change, a field not sent keeps its value; an explicit null is checked (and refused) like any value.
NewName = Annotated[str | None, BeforeValidator(_name), Field(max_length=MAX_NAME)]
NewDescription = Annotated[str | None, BeforeValidator(_description), Field(max_length=MAX_DESCRIPTION)]
NewMode = Annotated[ModeName | None, BeforeValidator(_mode)]
NewEnabled = Annotated[bool | None, BeforeValidator(_enabled)]
TagName = Annotated[str | None, Field(max_length=TAG_NAME_MAX,
                                      description="Tag name (created if new); or give tag_id.")]


class AutoTagRuleIn(InputModel):
    name: Name
    entity_type: TagEntityType = "profile"
    condition: Condition
    tag: TagName = None
    tag_id: Id | None = None
    mode: Mode = "sticky"
    enabled: Enabled = True
    description: Description = ""


class AutoTagRulePatch(InputModel):
    """Only the fields sent change; ``tag`` or ``tag_id`` moves the rule to another tag."""

    name: NewName = None
    entity_type: NewTagEntityType = None
    condition: Condition | None = None
    tag: TagName = None
    tag_id: Id | None = None
    mode: NewMode = None
    enabled: NewEnabled = None
    description: NewDescription = None

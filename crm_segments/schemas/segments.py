"""What creating or changing a segment takes, for the API, the segment editor and the RFM grid alike.

The models check each value on its own (its type, length and range) with the messages the editor shows
next to its fields; the segment service checks what needs the database or the segment's kind (the rule
or query, a unique name, which fields a kind has).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from crm_segments.models.segments import SEGMENT_KINDS

from ._base import InputModel
from ._types import OneOf

MAX_QUERY_SQL = 20_000
MAX_NAME = 120
MAX_DESCRIPTION = 2000
MAX_INTERVAL = 7 * 24 * 60  # a week, in minutes


def _name(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_NAME:
        raise PydanticCustomError("segment_name", "must be a text of 1-{most} characters", {"most": MAX_NAME})
    return " ".join(value.split())


def _description(value: Any) -> Any:
    value = "" if value is None else value
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
        raise PydanticCustomError("segment_description", "must be a text of at most {most} characters",
                                  {"most": MAX_DESCRIPTION})
    return value


def _interval(value: Any) -> Any:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INTERVAL:
        raise PydanticCustomError("refresh_interval", "must be a whole number from 0 (never) to {most}",
                                  {"most": MAX_INTERVAL})
    return value


Name = Annotated[str, BeforeValidator(_name),
                 Field(min_length=1, max_length=MAX_NAME,
                       description="1-120 characters; unique regardless of letter case.")]
Description = Annotated[str, BeforeValidator(_description), Field(max_length=MAX_DESCRIPTION)]
Interval = Annotated[int, BeforeValidator(_interval),
                     Field(ge=0, le=MAX_INTERVAL, description="0: only refreshed by hand.")]
QuerySql = Annotated[str, Field(max_length=MAX_QUERY_SQL)]
# In a change, an explicit null is checked (and refused) like any value; a field not sent keeps its value.
NewName = Annotated[str | None, BeforeValidator(_name), Field(max_length=MAX_NAME)]
NewInterval = Annotated[int | None, BeforeValidator(_interval), Field(ge=0, le=MAX_INTERVAL)]


class SegmentIn(InputModel):
    name: Name
    kind: Annotated[str, OneOf(SEGMENT_KINDS)] = "live"
    description: Description = ""
    rule: dict[str, Any] | None = Field(default=None, description="Live segments: the rule document.")
    query_sql: QuerySql | None = Field(default=None, description="Query segments (admins): one read-only "
                                                                 "SELECT returning profile ids.")
    refresh_interval_minutes: Interval = 60


class SegmentPatch(InputModel):
    """Only the fields sent change."""

    name: NewName = None
    description: Description | None = None
    rule: dict[str, Any] | None = None
    query_sql: QuerySql | None = None
    refresh_interval_minutes: NewInterval = None
    parameters: dict[str, Any] | None = Field(default=None, description="Built-ins: new parameter values; "
                                                                        "the rule is rebuilt from them.")

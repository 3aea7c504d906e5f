"""Request and response shapes of the segment endpoints (the segment service checks the values:
rules, queries, names, parameters; these models fix the JSON types and document them)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from crm_segments.schemas._base import InputModel, OutputModel
from crm_segments.schemas._types import Id

MAX_QUERY_SQL = 20_000


class SegmentIn(InputModel):
    name: str = Field(max_length=120, description="1-120 characters; unique regardless of letter case.")
    kind: Literal["live", "static", "query"] = "live"
    description: str = Field(default="", max_length=2000)
    rule: dict[str, Any] | None = Field(default=None, description="Live segments: the rule document.")
    query_sql: str | None = Field(default=None, max_length=MAX_QUERY_SQL,
                                  description="Query segments (admins): one read-only "
                                              "SELECT returning profile ids.")
    refresh_interval_minutes: int = Field(default=60, ge=0, le=525_600,
                                          description="0: only refreshed by hand.")


class SegmentPatch(InputModel):
    name: str | None = Field(default=None, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    rule: dict[str, Any] | None = None
    query_sql: str | None = Field(default=None, max_length=MAX_QUERY_SQL)
    refresh_interval_minutes: int | None = Field(default=None, ge=0, le=525_600)
    parameters: dict[str, Any] | None = Field(default=None, description="Built-ins: new parameter values; "
                                                                        "the rule is rebuilt from them.")


class SegmentOut(OutputModel):
    id: int
    key: str | None
    name: str
    description: str
    kind: str
    rule: dict[str, Any] | None
    rule_text: str | None = Field(description="The rule in words.")
    query_sql: str | None
    parameters: dict[str, Any] | None
    is_builtin: bool
    refresh_interval_minutes: int
    member_count: int
    previous_member_count: int
    version: int
    is_calculating: bool
    last_refreshed_at: dt.datetime | None
    last_error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class SegmentList(BaseModel):
    items: list[SegmentOut]


class PreviewIn(InputModel):
    rule: dict[str, Any] | None = None
    query_sql: str | None = Field(default=None, max_length=MAX_QUERY_SQL)
    sample_size: int = Field(default=20, ge=0, le=100)


class ProfileBrief(OutputModel):
    id: int
    external_id: str
    name: str
    email: str | None


class PreviewOut(BaseModel):
    count: int
    email_reachable: int
    sms_reachable: int
    sample: list[ProfileBrief]


class MemberOut(ProfileBrief):
    entered_at: dt.datetime


class MemberParams(InputModel):
    limit: int = Field(default=50, ge=1, le=500)
    after: Id | None = Field(default=None, description="`next_after` of the previous page.")
    q: str | None = Field(default=None, description="Prefix of the email, first or last name or company.")


class MemberPage(BaseModel):
    items: list[MemberOut]
    next_after: int | None


class MembersChangeIn(InputModel):
    action: Literal["add", "remove"]
    profile_ids: list[Id] = Field(min_length=1, max_length=100_000)


class MembersChangeOut(BaseModel):
    entered: int
    exited: int
    member_count: int


class RefreshOut(BaseModel):
    segment_id: int
    ok: bool
    size: int
    entered: int
    exited: int
    duration_ms: int
    error: str | None


class EventParams(InputModel):
    limit: int = Field(default=50, ge=1, le=500)
    before: Id | None = Field(default=None, description="`next_before` of the previous page.")
    kind: Literal["entered", "exited"] | None = None


class EventOut(BaseModel):
    id: int
    kind: str
    occurred_at: dt.datetime
    source: str
    profile_id: int
    profile_name: str
    email: str | None


class EventPage(BaseModel):
    items: list[EventOut]
    next_before: int | None


class OverlapOut(BaseModel):
    a_only: int
    b_only: int
    both: int
    union: int

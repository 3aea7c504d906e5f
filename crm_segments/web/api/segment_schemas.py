"""Response shapes and the query and preview inputs of the segment endpoints; what creating or changing a
segment takes is ``crm_segments.schemas.segments``, shared with the segment editor."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from crm_segments.schemas._base import InputModel, OutputModel
from crm_segments.schemas._types import Id
from crm_segments.schemas.segments import MAX_QUERY_SQL


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

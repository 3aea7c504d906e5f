"""Request and response shapes of the tagging endpoints (the services check the values themselves:
names, colours, rule documents; these models fix the JSON types and document them)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from crm_segments.config import MAX_TAGS_PER_REQUEST
from crm_segments.schemas._base import InputModel, OutputModel
from crm_segments.schemas._types import Id
from crm_segments.schemas.tags import TagEntityType

MAX_MERGE_SOURCES = 100
MAX_IDS_PER_REQUEST = 10_000



class TagCounts(BaseModel):
    profile: int
    quote: int
    job: int
    opportunity: int


class TagOut(OutputModel):
    id: int
    name: str
    color: str
    description: str
    is_builtin: bool = Field(description="Shipped with the product: only an admin's key may change it.")
    created_by_id: int | None
    created_at: dt.datetime
    counts: TagCounts | None = Field(default=None, description="Taggings per entity type.")


class TagList(BaseModel):
    items: list[TagOut]


class DeletedTag(BaseModel):
    removed: int = Field(description="Taggings removed with the tag (each kept in the history).")
    paused_workflow_ids: list[int] = Field(
        default_factory=list, description="Workflows paused because they used the tag (on_use=detach).")


class MergeIn(InputModel):
    source_ids: list[Id] = Field(min_length=1, max_length=MAX_MERGE_SOURCES,
                                 description="Tags merged into the target and deleted.")
    target_id: Id


class MergeOut(BaseModel):
    target: TagOut
    merged: list[str]
    moved: dict[str, int]
    already_tagged: dict[str, int]


class TaggingIn(InputModel):
    name: str | None = Field(default=None, max_length=64,
                             description="A tag name (created if new); or give tag_id.")
    tag_id: Id | None = None


class TaggingOut(BaseModel):
    tag: TagOut
    source: str
    added_by_id: int | None
    added_at: dt.datetime
    rule_id: int | None


class EntityTags(BaseModel):
    items: list[TaggingOut]
    suppressed: list[TagOut] = Field(description="Tags removed by hand that auto-tag rules keep off.")


class TagChangeOut(BaseModel):
    changed: bool
    tag: TagOut
    suppressed: bool = False


class ProfileFilterIn(InputModel):
    q: str | None = None
    region: str | None = None
    lifecycle: str | None = None
    tag: str | None = Field(default=None, description="Profiles with this tag (any letter case).")
    segment: Id | None = Field(default=None, description="Current members of this segment id.")


class RecordFilterIn(InputModel):
    """The filter of the quote, job and opportunity lists; every field is optional (none: all)."""

    q: str | None = Field(default=None, description="The record's profile: name, email or company prefix.")
    status: str | None = Field(default=None, description="A quote's or job's status.")
    stage: str | None = Field(default=None, description="An opportunity's stage.")
    date_from: dt.date | None = Field(
        default=None, description="Main date on or after this day (UTC): a quote's sent_at, a job's "
                                  "finished_at, an opportunity's expected_close.")
    date_to: dt.date | None = Field(default=None, description="Main date on or before this day (UTC).")
    amount_min: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2,
                                       description="Total, amount or value at least this.")
    amount_max: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2,
                                       description="Total, amount or value at most this.")
    tag: str | None = Field(default=None, description="Records with this tag (any letter case).")


class BulkIn(InputModel):
    action: Literal["add", "remove"]
    tags: list[str] = Field(min_length=1, max_length=MAX_TAGS_PER_REQUEST,
                            description="Tag names, at most CRM_SEGMENTS_TAGS_PER_REQUEST (default 20); "
                                        "added ones are created when new (each person creates at most "
                                        "CRM_SEGMENTS_TAGS_PER_USER_PER_MINUTE a minute).")
    entity_type: TagEntityType = "profile"
    ids: list[Id] | None = Field(default=None, max_length=MAX_IDS_PER_REQUEST,
                                 description="Explicit entities (any entity type).")
    filter: ProfileFilterIn | None = Field(default=None, description="The profiles list's filter.")
    record_filter: RecordFilterIn | None = Field(
        default=None, description="The quote, job or opportunity list's filter (entity_type says which).")
    segment_id: Id | None = Field(default=None, description="The current members of a segment.")


class BulkTagCount(BaseModel):
    id: int
    name: str
    changed: int


class BulkOperationOut(OutputModel):
    id: int
    action: str
    entity_type: str
    selection_kind: str
    selection_description: str
    tags: list[BulkTagCount]
    selected_count: int
    changed_count: int
    created_by_id: int | None
    created_at: dt.datetime
    undone_at: dt.datetime | None
    undone_by_id: int | None
    undone_count: int | None


class BulkOperationPage(BaseModel):
    items: list[BulkOperationOut]
    next_before: int | None


class OperationListParams(InputModel):
    limit: int = Field(default=50, ge=1, le=500)
    before: Id | None = Field(default=None, description="Only operations older than this id.")


class RuleOut(OutputModel):
    id: int
    key: str | None
    name: str
    description: str
    entity_type: str
    condition: dict[str, Any]
    tag_id: int
    tag_name: str
    mode: str
    enabled: bool
    is_builtin: bool
    last_run_at: dt.datetime | None
    last_matched: int | None
    last_added: int | None
    last_removed: int | None
    last_duration_ms: int | None
    last_error: str | None


class RuleList(BaseModel):
    items: list[RuleOut]


class RunOut(BaseModel):
    rule_id: int
    matched: int | None
    added: int
    removed: int
    duration_ms: int
    dry_run: bool

"""Response and query shapes of the workflow endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from crm_segments.schemas._base import FilterModel, InputModel, OutputModel
from crm_segments.schemas._types import MAX_ID


class WorkflowOut(OutputModel):
    id: int
    key: str | None
    name: str
    description: str
    status: str
    version: int
    is_builtin: bool
    trigger_type: str
    trigger_segment_id: int | None
    trigger_tag_id: int | None
    activated_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    definition: dict[str, Any] = Field(description="The workflow in the shape that POST and PUT take.")


class WorkflowPage(BaseModel):
    items: list[WorkflowOut]
    next_after: int | None


class StatusIn(InputModel):
    status: Literal["active", "paused", "archived", "draft"] = Field(
        description="active turns it on (or resumes it), paused stops it, archived ends its enrollments.")


class EnrollmentOut(OutputModel):
    id: int
    workflow_id: int
    profile_id: int
    status: str
    current_step_key: str | None
    next_run_at: dt.datetime | None
    enrolled_at: dt.datetime
    exited_at: dt.datetime | None
    exit_reason: str | None
    goal_met_at: dt.datetime | None
    trigger_record_type: str | None
    trigger_record_id: int | None
    attempts: int
    last_error: str | None


class EnrollmentStepOut(OutputModel):
    step_key: str
    step_type: str
    outcome: str
    detail: str
    message_id: int | None
    ran_at: dt.datetime


class EnrollmentDetailOut(EnrollmentOut):
    steps: list[EnrollmentStepOut]


class EnrollmentPage(BaseModel):
    items: list[EnrollmentOut]
    next_after: int | None


class EnrollmentFilters(FilterModel):
    status: Literal["active", "completed", "exited", "goal_met"] | None = None
    profile_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class ResultsOut(BaseModel):
    enrolled: int
    active: int
    sent: int
    delivered: int
    opened: int
    clicked: int
    bounced: int
    unsubscribed: int
    converted: int


class ResultsParams(FilterModel):
    since: AwareDatetime | None = Field(default=None, description="Only enrollments started since then.")


class DryRunItem(BaseModel):
    profile_id: int
    name: str
    email: str | None
    action: str
    at: dt.datetime | None
    step_key: str | None
    notes: list[str]


class DryRunOut(BaseModel):
    total: int = Field(description="How many profiles would be enrolled now.")
    items: list[DryRunItem] = Field(description="A sample of them, with the first thing each would get.")

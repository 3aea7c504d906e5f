"""Workflows, the enrollments of profiles in them, and the log of the steps each enrollment ran.

A workflow's steps are an ordered JSON list whose items carry stable keys ("first_email", "s7"):
editing never renumbers them, so an enrollment that already ran a step never runs it again, and the
message it sent stays unique by ``enrollment:{id}:step:{key}``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from crm_segments.db import Base, UTCDateTime

from ._columns import choice, created_at_column, updated_at_column
from .schema_ddl import run_after_create_all
from .tags import ENTITY_TYPE_LENGTH
from .triggers import HISTORY_REFERENCE_TRIGGERS

WORKFLOW_STATUSES = ("draft", "active", "paused", "archived")
TRIGGER_TYPES = ("segment_entered", "tag_added", "date_field")
REENTRY_POLICIES = ("once", "once_per_days", "every_time")
ENROLLMENT_STATUSES = ("active", "completed", "exited", "goal_met")


class Workflow(Base):
    __tablename__ = "crm_workflows"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str | None] = mapped_column(String(80), unique=True)  # stable key of a shipped one
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(choice(*WORKFLOW_STATUSES, name="workflow_status"),
                                        default="draft")

    trigger_type: Mapped[str] = mapped_column(choice(*TRIGGER_TYPES, name="workflow_trigger_type"))
    # The segment or tag a trigger watches, as real foreign keys so deleting one is visible here.
    trigger_segment_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_segments.id", ondelete="SET NULL"), index=True
    )
    trigger_tag_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_tags.id", ondelete="SET NULL"), index=True
    )
    # The rest of the trigger (date field and offset, which related record to attach).
    trigger_config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enroll_existing: Mapped[bool] = mapped_column(default=False)  # on activation, enroll current members

    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    next_step_number: Mapped[int] = mapped_column(default=1)  # for keys of steps added in the editor
    goal: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    conversion_window_days: Mapped[int] = mapped_column(default=7)
    exit_on_segment_exit: Mapped[bool] = mapped_column(default=False)
    reentry_policy: Mapped[str] = mapped_column(
        choice(*REENTRY_POLICIES, name="workflow_reentry_policy"), default="once"
    )
    reentry_days: Mapped[int | None]

    # A limited-time campaign enrolls and sends only between these.
    starts_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    version: Mapped[int] = mapped_column(default=1)
    is_builtin: Mapped[bool] = mapped_column(default=False)
    shipped_definition: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # for "reset to shipped"
    # Trigger events up to this moment have been looked at (re-read with a look-back, see triggers).
    events_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Why the product paused it (e.g. its trigger tag was deleted), shown on its page until resumed.
    paused_reason: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("crm_users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()

    def step(self, key: str) -> dict[str, Any] | None:
        return next((s for s in self.steps if s.get("key") == key), None)


class Enrollment(Base):
    __tablename__ = "crm_workflow_enrollments"
    __table_args__ = (
        # The database, not the engine, guarantees one active enrollment per profile and workflow.
        Index("uq_crm_workflow_enrollments_active", "workflow_id", "profile_id", unique=True,
              postgresql_where=text("status = 'active'"), sqlite_where=text("status = 'active'")),
        # One trigger occurrence (an entry event, a tagging, a record's date) enrolls at most once.
        UniqueConstraint("workflow_id", "trigger_key", name="uq_crm_workflow_enrollments_trigger"),
        Index("ix_crm_workflow_enrollments_due", "status", "next_run_at"),
        Index("ix_crm_workflow_enrollments_profile", "profile_id", "workflow_id", "enrolled_at"),
        # Conversions per day on the home dashboard; most enrollments never meet their goal.
        Index("ix_crm_workflow_enrollments_goal_met", "goal_met_at",
              postgresql_where=text("goal_met_at IS NOT NULL"), sqlite_where=text("goal_met_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Both reference their rows through HISTORY_REFERENCE_TRIGGERS (models/triggers.py), checked once
    # per statement: an import enrolls up to one profile per row.
    workflow_id: Mapped[int] = mapped_column(Integer)
    profile_id: Mapped[int] = mapped_column(Integer)
    trigger_key: Mapped[str] = mapped_column(String(120))
    # "profile" or a registered record type: the registry (record_types.py) says which exist, so no
    # CHECK constraint here and registering a type changes no table.
    trigger_record_type: Mapped[str | None] = mapped_column(String(ENTITY_TYPE_LENGTH))
    trigger_record_id: Mapped[int | None]
    status: Mapped[str] = mapped_column(choice(*ENROLLMENT_STATUSES, name="workflow_enrollment_status"),
                                        default="active")
    current_step_key: Mapped[str | None] = mapped_column(String(40))  # the next step to run
    next_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    workflow_version: Mapped[int] = mapped_column(default=1)
    enrolled_at: Mapped[dt.datetime] = created_at_column()
    exited_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    exit_reason: Mapped[str | None] = mapped_column(String(200))
    goal_met_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0)  # failed runs of the current step in a row
    last_error: Mapped[str | None] = mapped_column(Text)


class EnrollmentStep(Base):
    """One step an enrollment ran; unique per step key, so no step runs twice for one enrollment."""

    __tablename__ = "crm_workflow_enrollment_steps"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "step_key", name="uq_crm_workflow_enrollment_steps_step"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(
        ForeignKey("crm_workflow_enrollments.id", ondelete="CASCADE")
    )
    step_key: Mapped[str] = mapped_column(String(40))
    step_type: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(40))  # queued, waited, branch_true, tag_added, ...
    detail: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[int | None]  # the message row a send step queued
    ran_at: Mapped[dt.datetime] = created_at_column()


run_after_create_all(HISTORY_REFERENCE_TRIGGERS)

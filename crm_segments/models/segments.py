"""Segments and their materialized membership, entry/exit events and size history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import DDL, JSON, BigInteger, ForeignKey, Index, Integer, String, Text, event, text
from sqlalchemy.orm import Mapped, mapped_column

from crm_segments.db import Base, Money, UTCDateTime

from ._columns import choice, created_at_column, updated_at_column
from .schema_ddl import run_after_create_all
from .triggers import MEMBER_CONSENT_PROFILE_TRIGGERS, MEMBER_SEGMENT_TRIGGERS

SEGMENT_KINDS = ("live", "static", "query")
SEGMENT_EVENT_KINDS = ("entered", "exited")
# What changed a membership: a full refresh, a near-real-time re-evaluation of changed profiles, or a
# person editing a static list (by hand, a bulk selection, a CSV file or the API).
SEGMENT_EVENT_SOURCES = ("refresh", "realtime", "manual", "bulk", "csv", "api")


class Segment(Base):
    __tablename__ = "crm_segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str | None] = mapped_column(String(80), unique=True)  # stable key of a built-in
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(choice(*SEGMENT_KINDS, name="segment_kind"))
    rule: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # live segments
    query_sql: Mapped[str | None] = mapped_column(Text)  # database-query segments
    is_builtin: Mapped[bool] = mapped_column(default=False)
    shipped_rule: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # for "reset to shipped"
    # A built-in's parameters (e.g. {"days": 90} for "new"); its rule is built from them.
    parameters: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    refresh_interval_minutes: Mapped[int] = mapped_column(default=60)
    # Materialization status
    version: Mapped[int] = mapped_column(default=0)
    is_calculating: Mapped[bool] = mapped_column(default=False)
    last_refreshed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    last_refresh_ms: Mapped[int | None]
    member_count: Mapped[int] = mapped_column(default=0)
    previous_member_count: Mapped[int] = mapped_column(default=0)
    # Incremental refresh (segments/incremental.py): the change-log position read through, the rule
    # (its digest) the membership was computed with, and when the last full recompute ran.
    refreshed_through: Mapped[int | None] = mapped_column(BigInteger)
    refreshed_rule: Mapped[str | None] = mapped_column(String(64))
    last_full_refresh_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()


class SegmentMember(Base):
    """A profile's membership of a segment (materialized by segments/membership.py).

    ``segment_id`` references ``crm_segments.id`` through triggers rather than a foreign key
    (MEMBER_SEGMENT_TRIGGERS in models/triggers.py): a segment's first fill inserts up to one row per
    profile, and a foreign key checks every row on its own (a query and a lock of the same segment row,
    about as much as writing the row). The triggers check each statement's segments once, lock them
    against deletion as the foreign key would, and delete a segment's members with it. ``profile_id`` is
    checked once per statement too (MEMBER_CONSENT_PROFILE_TRIGGERS).
    """

    __tablename__ = "crm_segment_members"
    __table_args__ = (Index("ix_crm_segment_members_profile", "profile_id", "segment_id"),)

    segment_id: Mapped[int] = mapped_column(primary_key=True)
    # references crm_profiles: MEMBER_CONSENT_PROFILE_TRIGGERS (models/triggers.py)
    profile_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    entered_at: Mapped[dt.datetime] = created_at_column()


def _install_member_segment_triggers() -> None:
    for dialect, (on_members, on_segments) in MEMBER_SEGMENT_TRIGGERS.items():
        for table, statements in ((SegmentMember.__table__, on_members), (Segment.__table__, on_segments)):
            for statement in statements:
                event.listen(table, "after_create",
                             DDL(statement).execute_if(dialect=dialect))  # type: ignore[no-untyped-call]


class SegmentEvent(Base):
    """A profile entered or left a segment; workflows enroll from 'entered' events.

    ``segment_id`` and ``profile_id`` reference their rows through HISTORY_REFERENCE_TRIGGERS
    (models/triggers.py), checked once per statement rather than by foreign keys row by row.
    """

    __tablename__ = "crm_segment_events"
    __table_args__ = (
        Index("ix_crm_segment_events_segment_at", "segment_id", "occurred_at"),
        Index("ix_crm_segment_events_profile", "profile_id", "occurred_at"),
        # The home page's latest entries, newest first, without reading the exits.
        Index("ix_crm_segment_events_entered_at", "occurred_at", "id",
              postgresql_where=text("kind = 'entered'"), sqlite_where=text("kind = 'entered'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(Integer)  # references crm_segments: HISTORY_REFERENCE_TRIGGERS
    profile_id: Mapped[int] = mapped_column(Integer)  # references crm_profiles: HISTORY_REFERENCE_TRIGGERS
    kind: Mapped[str] = mapped_column(choice(*SEGMENT_EVENT_KINDS, name="segment_event_kind"))
    occurred_at: Mapped[dt.datetime] = created_at_column()
    segment_version: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(
        choice(*SEGMENT_EVENT_SOURCES, name="segment_event_source"), default="refresh"
    )
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("crm_users.id", ondelete="SET NULL"))


class SegmentSizePoint(Base):
    __tablename__ = "crm_segment_sizes"
    __table_args__ = (Index("ix_crm_segment_sizes_segment_at", "segment_id", "measured_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("crm_segments.id", ondelete="CASCADE"))
    measured_at: Mapped[dt.datetime] = created_at_column()
    size: Mapped[int]
    entered: Mapped[int] = mapped_column(default=0)
    exited: Mapped[int] = mapped_column(default=0)


# Each purchase value's index, ties by profile (segments/rfm_anchors.py walks them; the first
# computation builds them after its insert, segments/rfm_first_fill.py).
RFM_VALUE_INDEXES = {value: f"ix_crm_rfm_scores_{value}"
                     for value in ("last_purchase_at", "purchase_count", "total_spent")}


class RfmScore(Base):
    """Recency, frequency and monetary quintile scores (1-5) from completed jobs, recomputed in SQL."""

    __tablename__ = "crm_rfm_scores"
    # The RFM grid's cells: counted from the index, a cell's customers read from it in profile order.
    __table_args__ = (
        Index("ix_crm_rfm_scores_cell", "recency", "frequency", "profile_id"),
        # The grid's "computed at": the latest change, read from the index.
        Index("ix_crm_rfm_scores_computed_at", "computed_at"),
        # Each value, ties by profile (segments/rfm_anchors.py): a quintile's cut-off moves by a walk
        # along its index, not by a sort of every buyer (PostgreSQL; SQLite recomputes in full).
        *(Index(name, value, "profile_id") for value, name in RFM_VALUE_INDEXES.items()),
    )

    profile_id: Mapped[int] = mapped_column(
        ForeignKey("crm_profiles.id", ondelete="CASCADE"), primary_key=True
    )
    recency: Mapped[int]
    frequency: Mapped[int]
    monetary: Mapped[int]
    last_purchase_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    purchase_count: Mapped[int] = mapped_column(default=0)
    total_spent: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    computed_at: Mapped[dt.datetime] = created_at_column()


class RfmCutoff(Base):
    """The score row at each quintile's cut-off position when the scores were last computed
    (segments/rfm_anchors.py): the ``ceil(quintile * buyers / 5)``-th row in the order its score
    ranks its value, ties by profile id. A copy of that row's values: the row itself may change or go."""

    __tablename__ = "crm_rfm_cutoffs"

    score: Mapped[str] = mapped_column(String(16), primary_key=True)  # recency, frequency, monetary
    quintile: Mapped[int] = mapped_column(primary_key=True)  # 1-4: between score quintile and quintile + 1
    buyers: Mapped[int]  # how many rows were scored
    profile_id: Mapped[int]  # no foreign key: the profile may go, its copy stays
    last_purchase_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    purchase_count: Mapped[int]
    total_spent: Mapped[Decimal] = mapped_column(Money())


_install_member_segment_triggers()


run_after_create_all(MEMBER_CONSENT_PROFILE_TRIGGERS)

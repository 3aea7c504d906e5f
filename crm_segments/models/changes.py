"""The durable change log that incremental segment refreshes read.

Every write that can change a profile's segment membership leaves a row here in the writer's own
transaction, written by triggers on the CRM tables (CHANGE_LOG_TRIGGERS in models/triggers.py), so
the product's writes, a host app's and plain SQL's all count. A row without a profile
(``profile_id`` NULL) means "any profile may have changed" (a tag or catalog rename, a TRUNCATE):
every segment that reads the log then runs a full refresh. ``source`` names the table written, so a
segment re-evaluates only the profiles logged by writes to the tables its rule reads; a profile
inserted or deleted has none (it can enter or leave any rule).

A refresh remembers how far it has read (``Segment.refreshed_through``) as a *position*:
- PostgreSQL: ``tx`` is the writing transaction's id, and a position is the oldest transaction of
  this database still running when the refresh began (from ``pg_current_snapshot``): every row of an
  older transaction is committed and was read, and a row of a transaction that commits later still
  has ``tx`` >= it.
- SQLite: one writer at a time and the refresh holds the write lock, so a position is ``id`` + 1.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_segments.db import Base, UTCDateTime

from ._columns import created_at_column
from .schema_ddl import run_after_create_all
from .triggers import CHANGE_LOG_TRIGGERS


class ProfileChange(Base):
    __tablename__ = "crm_profile_changes"
    # AUTOINCREMENT: SQLite must never hand out an id again after the log is pruned (a position is an id).
    __table_args__ = (Index("ix_crm_profile_changes_tx", "tx"), {"sqlite_autoincrement": True})

    # BIGINT on PostgreSQL, INTEGER PRIMARY KEY (the rowid) on SQLite.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    profile_id: Mapped[int | None] = mapped_column(BigInteger)  # NULL: any profile may have changed
    tx: Mapped[int | None] = mapped_column(BigInteger)  # PostgreSQL: the writing transaction's id
    # The table written; NULL: a profile inserted or deleted (or anyone changed), which any rule reads.
    source: Mapped[str | None] = mapped_column(String(40))
    changed_at: Mapped[dt.datetime] = created_at_column()


class RefreshMark(Base):
    """How far something other than a segment has read the change log: ``rfm`` (the RFM scores were
    computed at ``at`` from every change before ``position``) and ``pruned`` (the log holds no row
    before ``position``)."""

    __tablename__ = "crm_refresh_marks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


run_after_create_all(CHANGE_LOG_TRIGGERS)

"""Tables of the scheduler: APScheduler's persistent job store and the leader lease."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, Index, LargeBinary, String, Unicode
from sqlalchemy.orm import Mapped, mapped_column

from crm_segments.db import Base, UTCDateTime


class SchedulerJob(Base):
    """APScheduler 3's SQLAlchemyJobStore table, declared here so Alembic owns it."""

    __tablename__ = "crm_scheduler_jobs"
    __table_args__ = (Index("ix_crm_scheduler_jobs_next_run_time", "next_run_time"),)

    id: Mapped[str] = mapped_column(Unicode(191), primary_key=True)
    next_run_time: Mapped[float | None] = mapped_column(Float(25))
    job_state: Mapped[bytes] = mapped_column(LargeBinary)


class SchedulerLease(Base):
    """Who runs the scheduler: one holder at a time, renewed while alive, taken over when expired."""

    __tablename__ = "crm_scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

"""Background tasks: long work started from a page (a segment refresh, a CSV import) that runs
outside the request, with its progress and outcome kept for the page that follows it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, deferred, mapped_column

from crm_segments.db import Base, UTCDateTime, utcnow

TASK_STATUSES = ("queued", "running", "done", "failed")


class BackgroundTask(Base):
    __tablename__ = "crm_tasks"
    __table_args__ = (Index("ix_crm_tasks_status", "status", "id"),
                      Index("ix_crm_tasks_subject", "subject", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(80), default="")  # e.g. "segment:12", for "is one running?"
    status: Mapped[str] = mapped_column(String(16), default="queued")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # An uploaded file waiting to be imported; cleared when the task ends.
    payload: Mapped[bytes | None] = deferred(mapped_column(LargeBinary, nullable=True))
    outcome: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("crm_users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

"""Task rows: queue one in the caller's transaction, claim the next, record how it ended."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from crm_segments.models import BackgroundTask

# A claimed task whose process stopped is taken again after this long (the work is all or nothing,
# so running it again is safe); after MAX_ATTEMPTS claims it is given up.
LEASE = dt.timedelta(minutes=30)
MAX_ATTEMPTS = 3
ACTIVE = ("queued", "running")


def enqueue(session: Session, *, kind: str, params: dict[str, Any], subject: str = "",
            payload: bytes | None = None, user_id: int | None = None) -> BackgroundTask:
    """Add a task in the caller's transaction: it exists (and runs) only if that transaction commits."""
    task = BackgroundTask(kind=kind, params=params, subject=subject, payload=payload,
                          created_by_id=user_id, status="queued")
    session.add(task)
    session.flush()
    return task


def active_task(session: Session, subject: str) -> BackgroundTask | None:
    """The newest queued or running task about ``subject``, if any."""
    return session.scalar(select(BackgroundTask).where(BackgroundTask.subject == subject,
                                                       BackgroundTask.status.in_(ACTIVE))
                          .order_by(BackgroundTask.id.desc()).limit(1))


def _claimable(now: dt.datetime) -> Any:
    return or_(BackgroundTask.status == "queued",
               and_(BackgroundTask.status == "running", BackgroundTask.lease_expires_at < now))


def claim_next(session_factory: Callable[[], Session], *, now: dt.datetime) -> int | None:
    """Take the oldest claimable task; a conditional UPDATE, so two workers never take the same one."""
    while True:
        with session_factory() as session:
            task_id = session.scalar(select(BackgroundTask.id).where(_claimable(now))
                                     .order_by(BackgroundTask.id).limit(1))
            if task_id is None:
                return None
            result = session.execute(
                update(BackgroundTask).where(BackgroundTask.id == task_id, _claimable(now))
                .values(status="running", started_at=now, lease_expires_at=now + LEASE,
                        attempts=BackgroundTask.attempts + 1))
            taken = int(result.rowcount)  # type: ignore[attr-defined]
            session.commit()
        if taken:
            return task_id


def finish(session: Session, task_id: int, *, ok: bool, outcome: str, details: dict[str, Any] | None,
           now: dt.datetime) -> None:
    session.execute(update(BackgroundTask).where(BackgroundTask.id == task_id).values(
        status="done" if ok else "failed", outcome=outcome, details=details, finished_at=now,
        lease_expires_at=None, payload=None))

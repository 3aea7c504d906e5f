"""Run due enrollments: claim a batch, check goals and exits, run steps until a wait or the end.

Claiming uses ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two schedulers (or a scheduler and a
manual run) share the work without running one enrollment twice; on SQLite the claim is the
transaction's first write, which takes the database's single write lock. Each enrollment runs in
its own savepoint: one that fails is retried later with backoff and never stops the batch.

Scheduler targets (``(session_factory, *, now)``): ``enroll_due`` and ``advance_due``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.models import Enrollment, Workflow

from . import outbox
from .actions import ACTIONS
from .batch import Batch
from .step_types import EXIT, NEXT
from .triggers import enroll_from_events

log = logging.getLogger(__name__)

BATCH_SIZE = 500
MAX_ATTEMPTS = 8
RETRY_BASE = dt.timedelta(minutes=1)
RETRY_MAX = dt.timedelta(hours=1)


def enroll_due(session_factory: sessionmaker[Session], *, now: dt.datetime) -> int:
    with session_factory() as session, session.begin():
        return enroll_from_events(session, now=now)


def advance_due(session_factory: sessionmaker[Session], *, now: dt.datetime, batch_size: int = BATCH_SIZE,
                max_batches: int = 1000) -> int:
    """Run every due enrollment, a batch per transaction; returns how many were run."""
    with session_factory() as session, session.begin():
        from .housekeeping import tidy

        tidy(session, now=now)
    total = 0
    for _ in range(max_batches):
        with session_factory() as session, session.begin():
            count = advance_batch(session, now=now, limit=batch_size)
        total += count
        if count < batch_size:
            break
    return total


def advance_batch(session: Session, *, now: dt.datetime, limit: int = BATCH_SIZE) -> int:
    ids = claim(session, now=now, limit=limit)
    if not ids:
        return 0
    enrollments = session.scalars(
        select(Enrollment).where(Enrollment.id.in_(ids)).order_by(Enrollment.id)
    ).all()
    batch = Batch.load(session, enrollments, now=now)
    for enrollment in [e for e in enrollments if e.workflow_id in batch.broken]:
        _failed(session, enrollment, batch.broken[enrollment.workflow_id], now=now)
    enrollments = [e for e in enrollments if e.workflow_id not in batch.broken]
    try:
        # Fast path: the whole batch in one savepoint, its rows written by a few bulk statements.
        with session.begin_nested(), session.no_autoflush:
            for enrollment in enrollments:
                run_enrollment(batch, enrollment)
            batch.write()
            session.flush()
    except Exception:  # noqa: BLE001 - redone one by one below, where the failure is pinned down
        log.warning("a workflow step failed; running the batch one enrollment at a time", exc_info=True)
        batch = Batch.load(session, enrollments, now=now)
        for enrollment in enrollments:
            try:
                with session.begin_nested():
                    run_enrollment(batch, enrollment)
                    batch.write()
            except Exception as exc:  # noqa: BLE001 - one bad enrollment must not stop the others
                log.exception("workflow enrollment %s failed", enrollment.id)
                batch.discard()
                _failed(session, enrollment, exc, now=now)
    if batch.changed_profiles:
        from crm_segments.kernel.changes import profiles_changed

        profiles_changed(session=session, profile_ids=batch.changed_profiles)
    return len(ids)


def claim(session: Session, *, now: dt.datetime, limit: int) -> Sequence[int]:
    """Ids of due enrollments of running workflows, locked for this transaction."""
    due = (
        select(Enrollment.id)
        .join(Workflow, Workflow.id == Enrollment.workflow_id)
        .where(Enrollment.status == "active", Enrollment.next_run_at <= now, Workflow.status == "active",
               or_(Workflow.starts_at.is_(None), Workflow.starts_at <= now))
        .order_by(Enrollment.next_run_at, Enrollment.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        return list(session.scalars(due.with_for_update(skip_locked=True, of=Enrollment)))
    # SQLite: make the claim a write, so this transaction holds the write lock from here on.
    claimed = session.execute(
        update(Enrollment).where(Enrollment.id.in_(due.scalar_subquery()))
        .values(attempts=Enrollment.attempts).returning(Enrollment.id)
    )
    return sorted(claimed.scalars())


def run_enrollment(batch: Batch, enrollment: Enrollment) -> None:
    """Run steps of one enrollment until it waits or ends; each step at most once."""
    workflow = batch.workflows[enrollment.workflow_id]
    now = batch.now
    for _ in range(len(workflow.steps) + 1):
        if enrollment.id in batch.goal_met:
            enrollment.goal_met_at = now
            return end(batch, enrollment, "goal_met", "goal met")
        if (workflow.id, enrollment.profile_id) in batch.left_segment:
            return end(batch, enrollment, "exited", "left the trigger segment")
        if workflow.ends_at is not None and workflow.ends_at <= now:
            return end(batch, enrollment, "exited", "campaign ended")
        key = enrollment.current_step_key
        step = workflow.step(key) if key else None
        if key is None or step is None:
            return finish(enrollment, "completed", None, now=now)
        if key in batch.ran[enrollment.id]:  # a step moved after an edit: it never runs twice
            enrollment.current_step_key = following(workflow, key)
            continue
        outcome = ACTIONS[step["type"]](batch, workflow, enrollment, step)
        log_row = {"enrollment_id": enrollment.id, "step_key": key, "step_type": step["type"],
                   "outcome": outcome.outcome, "detail": outcome.detail, "message_id": None, "ran_at": now}
        batch.logs.append(log_row)
        if outcome.message is not None:
            outcome.message.logs.append(log_row)
        batch.ran[enrollment.id].add(key)
        enrollment.attempts, enrollment.last_error = 0, None
        if outcome.go_to == EXIT:  # the workflow's own end: what it queued still goes out
            return finish(enrollment, "exited", outcome.detail, now=now)
        enrollment.current_step_key = following(workflow, key) if outcome.go_to == NEXT else outcome.go_to
        if outcome.resume_at is not None and outcome.resume_at > now:
            enrollment.next_run_at = outcome.resume_at
            return None
    return finish(enrollment, "completed", None, now=now)


def following(workflow: Workflow, key: str) -> str | None:
    keys = [s["key"] for s in workflow.steps]
    index = keys.index(key)
    return keys[index + 1] if index + 1 < len(keys) else None


def end(batch: Batch, enrollment: Enrollment, status: str, reason: str) -> None:
    """End early (goal met, exit): messages it queued but not yet handed over are not sent."""
    finish(enrollment, status, reason, now=batch.now)
    outbox.cancel_unsent(batch.session, reason=f"enrollment ended: {reason}", now=batch.now,
                         enrollment_id=enrollment.id)


def finish(enrollment: Enrollment, status: str, reason: str | None, *, now: dt.datetime) -> None:
    enrollment.status = status
    enrollment.exit_reason = reason
    enrollment.exited_at = now
    enrollment.next_run_at = None


def _failed(session: Session, enrollment: Enrollment, exc: Exception, *, now: dt.datetime) -> None:
    attempts = enrollment.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "last_error": f"{type(exc).__name__}: {exc}"[:2000]}
    if attempts >= MAX_ATTEMPTS:
        values.update(status="exited", exit_reason="failed repeatedly; see last error", exited_at=now,
                      next_run_at=None)
    else:
        values["next_run_at"] = now + min(RETRY_BASE * 2 ** (attempts - 1), RETRY_MAX)
    session.execute(update(Enrollment).where(Enrollment.id == enrollment.id).values(**values))
    session.expire(enrollment)

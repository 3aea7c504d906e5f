"""Work done before each run of due steps: end campaigns whose window closed, and record goals met
after a workflow's last step (they still count as conversions within the conversion window)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm_segments.models import Enrollment, Workflow

from . import goals
from .outbox import cancel_unsent

CHUNK = 1000


def tidy(session: Session, *, now: dt.datetime) -> None:
    end_campaigns(session, now=now)
    record_late_goals(session, now=now)


def end_campaigns(session: Session, *, now: dt.datetime) -> int:
    """Exit the enrollments of campaigns whose end has passed, and skip their unsent messages."""
    ended = select(Workflow.id).where(Workflow.ends_at.is_not(None), Workflow.ends_at <= now)
    rows = session.execute(
        update(Enrollment).where(Enrollment.status == "active", Enrollment.workflow_id.in_(ended))
        .values(status="exited", exit_reason="campaign ended", exited_at=now, next_run_at=None)
        .returning(Enrollment.workflow_id)
    ).all()
    for workflow_id in {row[0] for row in rows}:
        cancel_unsent(session, reason="campaign ended", now=now, workflow_id=workflow_id)
    return len(rows)


def record_late_goals(session: Session, *, now: dt.datetime) -> int:
    """Completed enrollments whose goal is met now, while still inside the conversion window."""
    recorded = 0
    workflows = session.scalars(select(Workflow).where(Workflow.status.in_(("active", "paused"))))
    for workflow in workflows:
        if not workflow.goal:
            continue
        cutoff = now - dt.timedelta(days=workflow.conversion_window_days)
        after = 0
        while True:
            chunk = session.scalars(
                select(Enrollment).where(Enrollment.workflow_id == workflow.id,
                                         Enrollment.status == "completed", Enrollment.goal_met_at.is_(None),
                                         Enrollment.exited_at > cutoff, Enrollment.id > after)
                .order_by(Enrollment.id).limit(CHUNK)
            ).all()
            if not chunk:
                break
            met = goals.goal_met(session, workflow, chunk, now=now)
            if met:
                session.execute(update(Enrollment).where(Enrollment.id.in_(met)).values(goal_met_at=now))
                recorded += len(met)
            after = chunk[-1].id
    return recorded

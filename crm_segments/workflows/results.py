"""What workflows achieved, per workflow and per trigger segment, computed in SQL from the message
rows and the enrollments: enrolled, sent, delivered, opened, clicked, bounced, unsubscribed and
converted (the goal met within the workflow's conversion window after a message was sent).

Only messages to the profile count (not the notes sent to its owner).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Float, and_, case, exists, func, literal, select, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from crm_segments.models import Enrollment, Segment, Workflow
from crm_segments.models.messaging import Message

BOUNCED = ("bounced", "dropped")


class days_between(FunctionElement[float]):  # noqa: N801 - reads as a SQL function
    """``later - earlier`` in days, as a number, on SQLite and PostgreSQL."""

    type = Float()
    name = "days_between"
    inherit_cache = True


@compiles(days_between, "sqlite")
def _days_sqlite(element: days_between, compiler: Any, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return f"(julianday({compiler.process(later, **kw)}) - julianday({compiler.process(earlier, **kw)}))"


@compiles(days_between, "postgresql")
def _days_postgresql(element: days_between, compiler: Any, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return (f"(EXTRACT(EPOCH FROM ({compiler.process(later, **kw)} - {compiler.process(earlier, **kw)}))"
            " / 86400.0)")


@dataclass(frozen=True)
class Results:
    enrolled: int = 0
    active: int = 0
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    bounced: int = 0
    unsubscribed: int = 0
    converted: int = 0

    def rate(self, name: str) -> float | None:
        """A count as a share: messages of those sent, conversions of those enrolled."""
        base = self.enrolled if name == "converted" else self.sent
        return getattr(self, name) / base if base else None

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def converted_condition() -> ColumnElement[bool]:
    """The enrollment met its goal within its workflow's window after a message was sent to it."""
    sent_before = (
        select(Message.id)
        .where(Message.enrollment_id == Enrollment.id, Message.recipient_user_id.is_(None),
               Message.sent_at.is_not(None), Message.sent_at <= Enrollment.goal_met_at,
               days_between(Enrollment.goal_met_at, Message.sent_at) <= Workflow.conversion_window_days)
    )
    return and_(Enrollment.goal_met_at.is_not(None), exists(sent_before))


def results_by(session: Session, group: Any, *, where: Any = None,
               since: dt.datetime | None = None) -> dict[Any, Results]:
    """Results grouped by ``group`` (a Workflow column), for workflows matching ``where``."""
    enrollment_query = (
        select(group, func.count(Enrollment.id),
               func.sum(case((Enrollment.status == "active", 1), else_=0)),
               func.sum(case((converted_condition(), 1), else_=0)))
        .join(Workflow, Workflow.id == Enrollment.workflow_id)
        .group_by(group)
    )
    message_query = (
        select(group, func.count(Message.sent_at), func.count(Message.delivered_at),
               func.count(Message.opened_at), func.count(Message.clicked_at),
               func.sum(case((Message.status.in_(BOUNCED), 1), else_=0)),
               func.sum(case((Message.status == "unsubscribed", 1), else_=0)))
        .join(Workflow, Workflow.id == Message.workflow_id)
        .where(Message.recipient_user_id.is_(None))
        .group_by(group)
    )
    if where is not None:
        enrollment_query, message_query = enrollment_query.where(where), message_query.where(where)
    if since is not None:
        enrollment_query = enrollment_query.where(Enrollment.enrolled_at >= since)
        # Counted by cohort: the messages of the enrollments that started since then.
        message_query = (message_query.join(Enrollment, Enrollment.id == Message.enrollment_id)
                         .where(Enrollment.enrolled_at >= since))
    counts: dict[Any, dict[str, int]] = {}
    for key, enrolled, active, converted in session.execute(enrollment_query):
        counts.setdefault(key, {}).update(enrolled=enrolled, active=int(active or 0),
                                          converted=int(converted or 0))
    for key, *values in session.execute(message_query):
        names = ("sent", "delivered", "opened", "clicked", "bounced", "unsubscribed")
        counts.setdefault(key, {}).update({n: int(v or 0) for n, v in zip(names, values, strict=True)})
    return {key: Results(**values) for key, values in counts.items()}


def workflow_results(*, session: Session, workflow_id: int, since: dt.datetime | None = None) -> Results:
    found = results_by(session, Workflow.id, where=Workflow.id == workflow_id, since=since)
    return found.get(workflow_id, Results())


@dataclass(frozen=True)
class SegmentResults:
    segment_id: int
    segment_name: str
    workflows: int
    results: Results


def segment_results(*, session: Session, since: dt.datetime | None = None) -> list[SegmentResults]:
    """Results of segment-triggered workflows, added up per trigger segment."""
    by_segment = results_by(session, Workflow.trigger_segment_id,
                            where=Workflow.trigger_segment_id.is_not(None), since=since)
    segments = session.execute(
        select(Segment.id, Segment.name, func.count(Workflow.id))
        .join(Workflow, Workflow.trigger_segment_id == Segment.id)
        .group_by(Segment.id, Segment.name).order_by(Segment.name)
    )
    return [SegmentResults(segment_id, name, workflows, by_segment.get(segment_id, Results()))
            for segment_id, name, workflows in segments]


@dataclass(frozen=True)
class StepCounts:
    waiting: int = 0    # active enrollments whose next step is this one
    sent: int = 0       # messages this step sent to profiles
    converted: int = 0  # enrollments that met the goal within the window after this step's message


def step_counts(*, session: Session, workflow_id: int) -> dict[str, StepCounts]:
    """Counts per step key, in one statement for all the steps of a workflow."""
    waiting = (
        select(Enrollment.current_step_key.label("step_key"), func.count(Enrollment.id).label("waiting"),
               literal(0).label("sent"), literal(0).label("converted"))
        .where(Enrollment.workflow_id == workflow_id, Enrollment.status == "active",
               Enrollment.current_step_key.is_not(None))
        .group_by(Enrollment.current_step_key)
    )
    converted_after = and_(
        Enrollment.goal_met_at.is_not(None), Message.sent_at <= Enrollment.goal_met_at,
        days_between(Enrollment.goal_met_at, Message.sent_at) <= Workflow.conversion_window_days)
    messages = (
        select(Message.step_key, literal(0), func.count(Message.sent_at),
               func.count(func.distinct(case((converted_after, Message.enrollment_id)))))
        .join(Workflow, Workflow.id == Message.workflow_id)
        .join(Enrollment, Enrollment.id == Message.enrollment_id)
        .where(Message.workflow_id == workflow_id, Message.recipient_user_id.is_(None),
               Message.step_key.is_not(None))
        .group_by(Message.step_key)
    )
    totals: dict[str, dict[str, int]] = {}
    for key, *values in session.execute(union_all(waiting, messages)):
        row = totals.setdefault(str(key), {"waiting": 0, "sent": 0, "converted": 0})
        for name, value in zip(("waiting", "sent", "converted"), values, strict=True):
            row[name] += int(value or 0)
    return {key: StepCounts(**row) for key, row in totals.items()}

"""Reading workflows and enrollments for the screens and the API: keyset pages, one enrollment
with its step log, per-workflow enrollment counts; and deleting a workflow nobody went through."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import Conflict, NotFound
from crm_segments.models import Enrollment, EnrollmentStep, Profile, Workflow

from .editing import get_workflow

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):  # noqa: UP046 - the package supports Python 3.11
    items: Sequence[T]
    next_after: int | None


def _page(session: Session, query: Select[Any], id_column: Any, *, limit: int,
          after: int | None) -> Page[Any]:
    if after is not None:
        query = query.where(id_column > after)
    rows = list(session.scalars(query.order_by(id_column).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1].id if more and rows else None)


def list_workflows(*, session: Session, status: str | None = None, limit: int = 100,
                   after: int | None = None) -> Page[Workflow]:
    query = select(Workflow)
    if status:
        query = query.where(Workflow.status == status)
    return _page(session, query, Workflow.id, limit=limit, after=after)


def list_enrollments(*, session: Session, workflow_id: int, status: str | None = None,
                     profile_id: int | None = None, limit: int = 100,
                     after: int | None = None) -> Page[Enrollment]:
    get_workflow(session=session, workflow_id=workflow_id)
    query = select(Enrollment).where(Enrollment.workflow_id == workflow_id)
    if status:
        query = query.where(Enrollment.status == status)
    if profile_id is not None:
        query = query.where(Enrollment.profile_id == profile_id)
    return _page(session, query, Enrollment.id, limit=limit, after=after)


def profile_names(*, session: Session, profile_ids: Sequence[int]) -> dict[int, Profile]:
    return {p.id: p for p in session.scalars(select(Profile).where(Profile.id.in_(set(profile_ids))))}


def get_enrollment(*, session: Session, enrollment_id: int) -> tuple[Enrollment, list[EnrollmentStep]]:
    enrollment = session.get(Enrollment, enrollment_id)
    if enrollment is None:
        raise NotFound(f"enrollment {enrollment_id} does not exist")
    steps = list(session.scalars(select(EnrollmentStep).where(EnrollmentStep.enrollment_id == enrollment_id)
                                 .order_by(EnrollmentStep.id)))
    return enrollment, steps


def enrollment_counts(*, session: Session, workflow_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """{workflow id: {status: count}} for the given workflows."""
    counts: dict[int, dict[str, int]] = {}
    rows = session.execute(
        select(Enrollment.workflow_id, Enrollment.status, func.count())
        .where(Enrollment.workflow_id.in_(list(workflow_ids)))
        .group_by(Enrollment.workflow_id, Enrollment.status)
    )
    for workflow_id, status, number in rows:
        counts.setdefault(workflow_id, {})[status] = number
    return counts


def delete_workflow(*, session: Session, workflow_id: int) -> None:
    """Delete a workflow that never enrolled anyone; one with history can only be archived."""
    get_workflow(session=session, workflow_id=workflow_id)
    if session.scalar(select(func.count()).where(Enrollment.workflow_id == workflow_id)):
        raise Conflict("status", "this workflow has enrollments; archive it instead of deleting it")
    session.execute(delete(Workflow).where(Workflow.id == workflow_id))

"""Goals and exit conditions, checked for a whole batch of enrollments at once.

A goal is met when its rule (the segment rule language) matches the profile, or when one of its
``since_enrollment`` records appeared after the profile enrolled (e.g. a job created, the quote
accepted). The "since enrollment" part is a correlated EXISTS per enrollment, so it is exact for
each profile's own enrollment time without a query per profile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from crm_segments.models import Enrollment, SegmentMember, Workflow

from . import rules
from .records import record_model, status_column


def goal_met(session: Session, workflow: Workflow, enrollments: Collection[Enrollment], *,
             now: dt.datetime) -> set[int]:
    """Ids of the ``enrollments`` (all of ``workflow``) whose goal is met now."""
    goal = workflow.goal
    if not goal or not enrollments:
        return set()
    met: set[int] = set()
    if rule := goal.get("rule"):
        matching = rules.matching(session, rule, profile_ids={e.profile_id for e in enrollments}, now=now)
        met |= {e.id for e in enrollments if e.profile_id in matching}
    conditions = [_record_since(item) for item in goal.get("since_enrollment") or []]
    if conditions:
        rest = [e.id for e in enrollments if e.id not in met]
        if rest:
            met |= set(session.scalars(
                select(Enrollment.id).where(Enrollment.id.in_(rest), or_(*conditions))
            ))
    return met


def _record_since(item: dict[str, Any]) -> Any:
    record_type = str(item["record"])
    model = record_model(record_type)
    column = getattr(model, str(item.get("field") or "created_at"))
    query = select(model.id).where(model.profile_id == Enrollment.profile_id,
                                   column >= Enrollment.enrolled_at)
    if status := item.get("status"):
        query = query.where(status_column(record_type) == status)
    if item.get("same_record"):
        query = query.where(Enrollment.trigger_record_type == record_type,
                            model.id == Enrollment.trigger_record_id)
    return exists(query)


def outside_segment(session: Session, workflow: Workflow, profile_ids: Collection[int]) -> set[int]:
    """The profiles (among ``profile_ids``) no longer in the workflow's trigger segment."""
    if not workflow.exit_on_segment_exit or workflow.trigger_segment_id is None or not profile_ids:
        return set()
    members = set(session.scalars(
        select(SegmentMember.profile_id).where(SegmentMember.segment_id == workflow.trigger_segment_id,
                                               SegmentMember.profile_id.in_(list(profile_ids)))
    ))
    return set(profile_ids) - members

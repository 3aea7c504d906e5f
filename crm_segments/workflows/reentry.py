"""The re-entry policy as a SQL condition on a candidate (profile, trigger time) row.

- once: never enrolled in this workflow before;
- once_per_days N: not enrolled within the last N days;
- every_time: each entry enrolls, except one that happened while an enrollment was still running
  (that entry is absorbed by the running enrollment, also when it is looked at again later).
In every case an active enrollment blocks a new one; the partial unique index guarantees it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, not_, or_, select

from crm_segments.models import Enrollment, Workflow


def reentry_allowed(workflow: Workflow, *, profile_id: Any, occurred_at: Any,
                    now: dt.datetime) -> ColumnElement[bool]:
    """``profile_id`` and ``occurred_at`` are columns of the candidate query (or bound values)."""
    earlier = select(Enrollment.id).where(Enrollment.workflow_id == workflow.id,
                                          Enrollment.profile_id == profile_id)
    if workflow.reentry_policy == "once":
        return not_(exists(earlier))
    blocking = or_(Enrollment.status == "active", Enrollment.exited_at >= occurred_at)
    if workflow.reentry_policy == "once_per_days":
        days = workflow.reentry_days or 1
        blocking = or_(blocking, Enrollment.enrolled_at > now - dt.timedelta(days=days))
    return not_(exists(earlier.where(and_(blocking))))

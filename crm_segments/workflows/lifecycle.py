"""Turning a workflow on, pausing, resuming and archiving it.

Pausing stops everything (no enrollment, no step); resuming continues each enrollment at the step
it was about to run. A step that ran before the pause is in the step log and its message is unique
by its dedupe key, so nothing is sent twice. Entries into the trigger segment while paused are not
enrolled afterwards: the trigger is looked at again from the moment of resuming.

A trigger segment that was never computed is computed when its workflow is turned on. A segment's
first computation records no entries (segments/membership.py), so without this a profile that
qualified between the workflow's activation and the segment's first scheduled refresh would be
silently counted as an existing member and never enrolled.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.models import Enrollment, Segment, Workflow
from crm_segments.segments.refresh import REFRESHABLE, RefreshError, refresh_segment

from .editing import get_workflow
from .outbox import cancel_unsent

TRANSITIONS: dict[str, tuple[str, ...]] = {
    # target status: the statuses it can be reached from
    "active": ("draft", "paused"),
    "paused": ("active",),
    "archived": ("draft", "active", "paused"),
    "draft": ("archived",),
}


def set_status(*, session: Session, workflow_id: int, status: str, now: dt.datetime) -> Workflow:
    workflow = get_workflow(session=session, workflow_id=workflow_id)
    allowed = TRANSITIONS.get(status)
    if allowed is None:
        raise ValidationFailed([FieldError("status", f"unknown status {status!r}")])
    if workflow.status == status:
        return workflow
    if workflow.status not in allowed:
        raise ValidationFailed([FieldError("status", f"a {workflow.status} workflow cannot become {status}")])
    if status == "active":
        _check_can_run(workflow)
        _compute_trigger_segment(session, workflow, now=now)
        if workflow.activated_at is None and workflow.enroll_existing:
            from .triggers import enroll_existing_members

            workflow.status = status
            enroll_existing_members(session, workflow, now=now)
        workflow.activated_at = workflow.activated_at or now
        workflow.events_checked_at = now
    if status == "archived":
        finish_active(session, workflow, status="exited", reason="workflow archived", now=now)
        cancel_unsent(session, reason="workflow archived", now=now, workflow_id=workflow.id)
    workflow.paused_reason = None  # a person decided what happens next
    workflow.status = status
    session.flush()
    return workflow


def _check_can_run(workflow: Workflow) -> None:
    missing = {
        "segment_entered": ("trigger.segment", workflow.trigger_segment_id),
        "tag_added": ("trigger.tag", workflow.trigger_tag_id),
    }.get(workflow.trigger_type)
    if missing is not None and missing[1] is None:
        raise ValidationFailed([FieldError(missing[0], "the trigger's segment or tag no longer exists")])


def _compute_trigger_segment(session: Session, workflow: Workflow, *, now: dt.datetime) -> None:
    """The trigger segment's members as of now: later entries into it are then recorded as entries."""
    if workflow.trigger_type != "segment_entered" or workflow.trigger_segment_id is None:
        return
    segment = session.get(Segment, workflow.trigger_segment_id)
    if segment is None or segment.version > 0 or segment.kind not in REFRESHABLE:
        return
    try:
        refresh_segment(session, segment, now=now)
    except RefreshError as exc:
        problem = FieldError("trigger.segment", f"the trigger segment cannot be computed: {exc}")
        raise ValidationFailed([problem]) from exc


def finish_active(session: Session, workflow: Workflow, *, status: str, reason: str, now: dt.datetime) -> int:
    """End every active enrollment of the workflow (one UPDATE); returns how many."""
    result = session.execute(
        update(Enrollment)
        .where(Enrollment.workflow_id == workflow.id, Enrollment.status == "active")
        .values(status=status, exit_reason=reason, exited_at=now, next_run_at=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]

"""Create and edit workflows. Step keys are stable: a step keeps its key through every edit, new
steps get fresh keys that were never used in the workflow, and enrollments waiting at a removed
step move on to the step that followed it. So a live edit never runs a step twice for anyone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import Conflict, NotFound, ValidationFailed
from crm_segments.models import Enrollment, Workflow

from .definition import DateTrigger, SegmentTrigger, TagTrigger, WorkflowDefinition, parse_definition
from .references import Resolved, partial_errors, resolve
from .step_types import Step


def get_workflow(*, session: Session, workflow_id: int) -> Workflow:
    workflow = session.get(Workflow, workflow_id)
    if workflow is None:
        raise NotFound(f"workflow {workflow_id} does not exist")
    return workflow


def create_workflow(*, session: Session, data: Any, user_id: int | None = None,
                    shipped: bool = False, prefix: str = "") -> Workflow:
    """A new workflow from a definition (always saved as a draft unless it says otherwise)."""
    definition, resolved = checked(session, data, prefix=prefix)
    _check_unique(session, definition, workflow_id=None)
    workflow = Workflow(name=definition.name, key=definition.key, created_by_id=user_id, version=0,
                        next_step_number=1, steps=[], is_builtin=shipped, status="draft",
                        shipped_definition=definition_data(definition) if shipped else None)
    _apply(workflow, definition, resolved)
    session.add(workflow)
    session.flush()
    return workflow


def update_workflow(*, session: Session, workflow_id: int, data: Any, prefix: str = "") -> Workflow:
    """Replace a workflow's definition; steps are matched to the existing ones by key."""
    workflow = get_workflow(session=session, workflow_id=workflow_id)
    definition, resolved = checked(session, data, prefix=prefix)
    _check_unique(session, definition, workflow_id=workflow.id)
    old_keys = [s["key"] for s in workflow.steps]
    _apply(workflow, definition, resolved)
    _move_off_removed_steps(session, workflow, old_keys)
    session.flush()
    return workflow


def checked(session: Session, data: Any, *, prefix: str = "") -> tuple[WorkflowDefinition, Resolved]:
    """The definition and what it points at, or ValidationFailed with every problem at once: those of
    its shape and, for the parts that parse, those of its references."""
    try:
        definition = parse_definition(data, prefix=prefix)
    except ValidationFailed as exc:
        raise ValidationFailed([*exc.errors, *partial_errors(session, data, prefix=prefix)]) from None
    return definition, resolve(session, definition, prefix=prefix)


def definition_data(definition: WorkflowDefinition) -> dict[str, Any]:
    data: dict[str, Any] = definition.model_dump(mode="json", exclude_none=True)
    return data


def _apply(workflow: Workflow, definition: WorkflowDefinition, resolved: Resolved) -> None:
    workflow.name = definition.name
    workflow.key = definition.key or workflow.key
    workflow.description = definition.description
    trigger = definition.trigger
    workflow.trigger_type = trigger.type
    workflow.trigger_segment_id = resolved.segment_id
    workflow.trigger_tag_id = resolved.tag_id
    workflow.trigger_config = _trigger_config(trigger)
    workflow.steps = _keyed_steps(workflow, definition.steps)
    goal = definition.goal
    workflow.goal = goal.model_dump(mode="json", exclude={"conversion_window_days"},
                                                  exclude_none=True) if goal else None
    workflow.conversion_window_days = goal.conversion_window_days if goal else 7
    workflow.exit_on_segment_exit = definition.exit_on_segment_exit
    workflow.reentry_policy = definition.reentry.policy
    workflow.reentry_days = definition.reentry.days
    workflow.enroll_existing = definition.enroll_existing
    workflow.starts_at = definition.schedule.starts_at
    workflow.ends_at = definition.schedule.ends_at
    workflow.version = (workflow.version or 0) + 1


def _trigger_config(trigger: SegmentTrigger | TagTrigger | DateTrigger) -> dict[str, Any]:
    # The textual reference is kept so export writes the key or name back, not a database id.
    config: dict[str, Any] = trigger.model_dump(mode="json", exclude={"type"})
    return config


def _keyed_steps(workflow: Workflow, steps: list[Step]) -> list[dict[str, Any]]:
    """Steps as stored: every one with a key; new ones numbered past any number used before."""
    taken = {s.key for s in steps if s.key}
    number = workflow.next_step_number or 1
    stored: list[dict[str, Any]] = []
    for step in steps:
        if step.key is None:
            while f"s{number}" in taken:
                number += 1
            step.key = f"s{number}"
            taken.add(step.key)
            number += 1
        stored.append(step.model_dump(mode="json", exclude_none=True))
    workflow.next_step_number = number
    return stored


def _move_off_removed_steps(session: Session, workflow: Workflow, old_keys: list[str]) -> None:
    """Enrollments about to run a step that no longer exists go on from where it stood: to the step
    that now follows the last surviving step before it (steps they already ran are skipped anyway)."""
    new_keys = [s["key"] for s in workflow.steps]
    for index, key in enumerate(old_keys):
        if key in new_keys:
            continue
        before = next((k for k in reversed(old_keys[:index]) if k in new_keys), None)
        position = new_keys.index(before) + 1 if before is not None else 0
        successor = new_keys[position] if position < len(new_keys) else None
        session.execute(
            update(Enrollment)
            .where(Enrollment.workflow_id == workflow.id, Enrollment.status == "active",
                   Enrollment.current_step_key == key)
            .values(current_step_key=successor)
        )


def _check_unique(session: Session, definition: WorkflowDefinition, *, workflow_id: int | None) -> None:
    with session.no_autoflush:
        for field, column, value in (("name", Workflow.name, definition.name),
                                     ("key", Workflow.key, definition.key)):
            if value is None:
                continue
            other = session.scalars(select(Workflow.id).where(column == value)).first()
            if other is not None and other != workflow_id:
                raise Conflict(field, f"a workflow with the {field} {value!r} already exists")

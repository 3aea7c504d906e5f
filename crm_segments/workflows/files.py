"""Workflows as YAML files: the shipped ones in ``workflows/``, and export and import of any.

A file holds one workflow in the shape of ``WorkflowDefinition``; every error names the file and
the field (``quote_follow_up.yaml: steps[2].template``). Importing a file whose key or name exists
updates that workflow (its steps matched by key); activation is never part of a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.models import Workflow
from crm_segments.resources import data_path

from .definition import parse_definition
from .editing import checked, create_workflow, definition_data, update_workflow


def shipped_files() -> list[Path]:
    return sorted(data_path("workflows").glob("*.yaml"))


def read_yaml(text: str, *, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationFailed([FieldError(source, f"is not valid YAML: {exc}")]) from None
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError(source, "must hold one workflow (a mapping of fields)")])
    return data


def to_definition(workflow: Workflow) -> dict[str, Any]:
    """The workflow in file form; reading it back gives the same workflow."""
    data: dict[str, Any] = {"key": workflow.key, "name": workflow.name, "description": workflow.description,
                            "trigger": {"type": workflow.trigger_type, **workflow.trigger_config},
                            "steps": workflow.steps}
    if workflow.goal:
        data["goal"] = {**workflow.goal, "conversion_window_days": workflow.conversion_window_days}
    data["exit_on_segment_exit"] = workflow.exit_on_segment_exit
    data["reentry"] = {"policy": workflow.reentry_policy}
    if workflow.reentry_days is not None:
        data["reentry"]["days"] = workflow.reentry_days
    data["enroll_existing"] = workflow.enroll_existing
    window = (("starts_at", workflow.starts_at), ("ends_at", workflow.ends_at))
    schedule = {k: v.isoformat() for k, v in window if v is not None}
    if schedule:
        data["schedule"] = schedule
    return {k: v for k, v in data.items() if v is not None}


def dump_yaml(workflow: Workflow) -> str:
    return str(yaml.safe_dump(to_definition(workflow), sort_keys=False, allow_unicode=True, width=100))


def import_yaml(*, session: Session, text: str, source: str,
                user_id: int | None = None) -> tuple[Workflow, bool]:
    """Create the workflow in ``text``, or update the one with its key (or name); ``(workflow, created)``."""
    data = read_yaml(text, source=source)
    prefix = f"{source}: "
    definition, _ = checked(session, data, prefix=prefix)
    existing = _existing(session, key=definition.key, name=definition.name)
    if existing is not None:
        return update_workflow(session=session, workflow_id=existing.id, data=data, prefix=prefix), False
    return create_workflow(session=session, data=data, user_id=user_id, prefix=prefix), True


def install_shipped(session: Session) -> None:
    """Create missing shipped workflows (as drafts); refresh the shipped copy of existing ones, whose
    current definition is the admins' and is left alone. Every file is checked before any is saved."""
    errors: list[FieldError] = []
    loaded: list[tuple[str, dict[str, Any]]] = []
    for path in shipped_files():
        try:
            data = read_yaml(path.read_text(encoding="utf-8"), source=path.name)
            definition = parse_definition(data, prefix=f"{path.name}: ")
        except ValidationFailed as exc:
            errors.extend(exc.errors)
            continue
        if definition.key is None:
            errors.append(FieldError(f"{path.name}: key", "a shipped workflow needs a key"))
            continue
        loaded.append((path.name, data))
    if errors:
        raise ValidationFailed(errors)
    for name, data in loaded:
        existing = _existing(session, key=data["key"], name=None)
        if existing is None:
            create_workflow(session=session, data=data, shipped=True, prefix=f"{name}: ")
        else:
            existing.shipped_definition = definition_data(parse_definition(data))
            existing.is_builtin = True
    session.flush()


def reset_to_shipped(*, session: Session, workflow_id: int) -> Workflow:
    workflow = session.get(Workflow, workflow_id)
    if workflow is None or not workflow.shipped_definition:
        raise ValidationFailed([FieldError("workflow", "only a shipped workflow can be reset")])
    return update_workflow(session=session, workflow_id=workflow_id, data=workflow.shipped_definition)


def _existing(session: Session, *, key: str | None, name: str | None) -> Workflow | None:
    if key is not None:
        found = session.scalars(select(Workflow).where(Workflow.key == key)).first()
        if found is not None:
            return found
    if name is not None:
        return session.scalars(select(Workflow).where(Workflow.name == name)).first()
    return None

"""What each kind of background task runs: ``module:function`` taking ``(session_factory, task,
report)`` and returning a ``TaskResult``; resolved when run, so this module imports no domain."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class TaskInput:
    id: int
    params: dict[str, Any]
    payload: bytes | None
    user_id: int | None


@dataclass(frozen=True)
class TaskResult:
    ok: bool
    outcome: str  # one sentence for the page that follows the task
    details: dict[str, Any] = field(default_factory=dict)


class TaskHandler(Protocol):
    def __call__(self, session_factory: Callable[[], Session], task: TaskInput,
                 report: Callable[[str], None]) -> TaskResult: ...


@dataclass(frozen=True)
class TaskKind:
    label: str
    target: str
    roles: tuple[str, ...]  # who may follow such a task's page


KINDS: dict[str, TaskKind] = {
    "segment_refresh": TaskKind("Segment refresh", "crm_segments.segments.refresh_task:refresh_task",
                                ("admin", "sales")),
    "bulk_tag": TaskKind("Bulk tagging", "crm_segments.tagging.bulk_task:bulk_tag_task", ("admin", "sales")),
    "auto_tag_rule": TaskKind("Auto-tag rule run", "crm_segments.tagging.rule_task:run_rule_task",
                              ("admin",)),
    "csv_import": TaskKind("CSV import", "crm_segments.records.import_task:import_task", ("admin",)),
}


def handler_for(kind: str) -> TaskHandler:
    module_name, _, attribute = KINDS[kind].target.partition(":")
    handler: TaskHandler = getattr(importlib.import_module(module_name), attribute)
    return handler

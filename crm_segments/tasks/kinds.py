"""What a kind of background task is: its label, who may follow its page and the handler that runs it,
``(session_factory, task, report) -> TaskResult``. The composition root (``crm_segments.wiring``) lists
the kinds on the app's state; this package imports no domain."""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    handler: TaskHandler
    roles: tuple[str, ...]  # who may follow such a task's page


TaskKinds = Mapping[str, TaskKind]  # by the name queued in crm_background_tasks.kind

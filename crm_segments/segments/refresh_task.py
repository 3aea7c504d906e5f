"""The "refresh this segment" background task, queued by the segment page's button and by saving."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from crm_segments.db import utcnow
from crm_segments.tasks.kinds import TaskInput, TaskResult

from .refresh import run_refresh


def refresh_task(session_factory: Callable[[], Session], task: TaskInput,
                 report: Callable[[str], None]) -> TaskResult:
    segment_id = int(task.params["segment_id"])
    report("Evaluating the rule and updating the membership")
    result = run_refresh(session_factory, segment_id, now=utcnow())
    details = {"segment_id": segment_id, "size": result.size, "entered": result.entered,
               "exited": result.exited}
    if not result.ok:
        return TaskResult(False, f"The refresh of {result.name} failed and changed nothing: {result.error}",
                          details)
    members = "member" if result.size == 1 else "members"
    return TaskResult(True, f"Refreshed {result.name}: {result.size:,} {members} (+{result.entered:,} "
                            f"−{result.exited:,}) in {result.duration_ms:,} ms.", details)

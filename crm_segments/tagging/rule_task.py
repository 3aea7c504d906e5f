"""The "run this auto-tag rule now" background task, queued by the rule's Run now button: a rule over
the whole base can take a while, and the page that queued it should not wait for it."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from crm_segments.kernel.errors import NotFound
from crm_segments.tasks.kinds import TaskInput, TaskResult

from .auto import run_rule_now
from .rules import get_rule


def run_rule_task(session_factory: Callable[[], Session], task: TaskInput,
                  report: Callable[[str], None]) -> TaskResult:
    rule_id = int(task.params["rule_id"])
    report("Matching the condition and updating the taggings")
    with session_factory() as session:
        try:
            name = get_rule(session=session, rule_id=rule_id).name
        except NotFound:
            return TaskResult(False, "The rule was deleted before it ran; nothing was changed.")
        result = run_rule_now(session=session, rule_id=rule_id)
        session.commit()
    return TaskResult(True, f"Ran {name!r}: {result.matched or 0:,} match, {result.added:,} tagged, "
                            f"{result.removed:,} untagged ({result.duration_ms:,} ms).",
                      {"rule_id": rule_id, "added": result.added, "removed": result.removed})

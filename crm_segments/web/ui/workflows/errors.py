"""Where a workflow error points, in the editor's words: ``steps[2].duration.days`` reads as
"Step 3 (Wait): days", so an admin finds the card without knowing the definition's field names."""

from __future__ import annotations

import re
from typing import Any

_STEP_FIELD = re.compile(r"^(?P<source>.*?: )?steps\[(?P<index>\d+)\](?:\.(?P<rest>.+))?$")
_WORDS = {
    "duration": "wait", "duration.days": "days", "duration.hours": "hours", "duration.minutes": "minutes",
    "until": "wait until", "until.weekdays": "weekdays", "until.time": "time", "rule": "condition",
    "if_true": "if it matches", "if_false": "otherwise", "key": "step", "template": "template",
    "category": "category", "tag": "tag", "reason": "reason", "label": "name",
}
_SECTIONS = {"trigger": "Trigger", "goal": "Goal", "reentry": "Re-entry", "schedule": "Schedule",
             "steps": "Steps", "name": "Name", "key": "Key", "description": "Description",
             "exit_on_segment_exit": "Trigger", "enroll_existing": "Re-entry"}


def error_place(field: str, steps: list[dict[str, Any]], step_labels: dict[str, str]) -> str:
    """``field`` named for people; ``steps`` (the definition's, as shown) name a step by its kind."""
    if match := _STEP_FIELD.match(field):
        index = int(match["index"])
        kind = steps[index].get("type", "") if index < len(steps) else ""
        place = f"Step {index + 1}" + (f" ({step_labels.get(kind, kind)})" if kind else "")
        if rest := match["rest"]:
            place += f": {_WORDS.get(rest, rest.replace('_', ' ').replace('.', ' '))}"
        return (match["source"] or "") + place
    source, colon, inner = field.rpartition(": ")
    head, _, tail = inner.partition(".")
    place = _SECTIONS.get(head, head.replace("_", " ").capitalize())
    if tail:
        place += f": {tail.replace('_', ' ').replace('.', ' ')}"
    return f"{source}{colon}{place}"

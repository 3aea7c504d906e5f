"""The workflow editor's form, read into a definition (the shape the services validate).

Fields are flat (``trigger_type``, ``steps-3-template``...); steps are numbered in the order shown.
Editing buttons (add a step, remove, move) only change the rows and re-show the form; only "save"
calls the service. JSON fields that do not parse are reported by field and shown back as typed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from crm_segments.kernel.errors import FieldError
from crm_segments.kernel.json_text import parse_json
from crm_segments.workflows.step_types import STEP_TYPES, WEEKDAYS

_STEP_FIELD = re.compile(r"^steps-(\d+)-(\w+)$")
# Goal conditions offered as checkboxes (others from files are kept as they are).
GOAL_PRESETS: list[tuple[str, dict[str, Any]]] = [
    ("A quote is accepted", {"record": "quote", "field": "decided_at", "status": "accepted"}),
    ("The quote that triggered it is accepted",
     {"record": "quote", "field": "decided_at", "status": "accepted", "same_record": True}),
    ("A job is created", {"record": "job", "field": "created_at"}),
    ("A job is completed", {"record": "job", "field": "finished_at", "status": "completed"}),
    ("An opportunity is won", {"record": "opportunity", "field": "closed_at", "status": "won"}),
]


@dataclass
class EditorForm:
    data: dict[str, Any]                                  # the definition as typed
    raw: dict[str, str] = field(default_factory=dict)     # JSON text as typed, by field name
    errors: list[FieldError] = field(default_factory=list)

    def errors_for(self, prefix: str) -> list[str]:
        return [e.message for e in self.errors if e.field == prefix or e.field.startswith(f"{prefix}.")]


def goal_item_value(item: dict[str, Any]) -> str:
    """A goal condition as a checkbox value; unset options are left out so equal ones compare equal."""
    return json.dumps({k: v for k, v in item.items() if v not in (None, False)}, sort_keys=True)


def read_form(form: MultiDict[str, str]) -> tuple[EditorForm, str]:
    """The typed definition and the button pressed ("save", "add:wait", "add:wait:2", "remove:2"...)."""
    editor = EditorForm({})
    data = editor.data
    data["name"] = form.get("name", "").strip()
    if key := form.get("key", "").strip():
        data["key"] = key
    data["description"] = form.get("description", "").strip()
    data["trigger"] = _trigger(form)
    data["steps"] = _steps(form, editor)
    if goal := _goal(form, editor):
        data["goal"] = goal
    data["exit_on_segment_exit"] = form.get("exit_on_segment_exit") == "on"
    data["enroll_existing"] = form.get("enroll_existing") == "on"
    data["reentry"] = {"policy": form.get("reentry_policy", "once")}
    if days := form.get("reentry_days", "").strip():
        data["reentry"]["days"] = _int(days, "reentry.days", editor)
    schedule = {name: _utc(form.get(name, ""), f"schedule.{name}", editor)
                for name in ("starts_at", "ends_at")}
    data["schedule"] = {k: v for k, v in schedule.items() if v}
    return editor, form.get("action", "save")


def apply_action(editor: EditorForm, action: str) -> str:
    """Add, remove or move a step row (nothing is saved). Returns the id of the control that keeps
    the keyboard focus on the re-shown form: the moved step's same button, the added step's first
    field, or the step that took the removed one's place."""
    steps: list[dict[str, Any]] = editor.data["steps"]
    verb, _, argument = action.partition(":")
    editor.raw = {}  # rule texts are re-shown from the rows, which moved with them
    kind, _, after = argument.partition(":")
    if verb == "add" and kind in STEP_TYPES:
        # "add:wait" adds at the end, "add:wait:2" right after the third step
        at = int(after) + 1 if after.isdigit() and int(after) < len(steps) else len(steps)
        steps.insert(at, _blank_step(kind))
        return f"steps-{at}-label"
    if verb not in ("remove", "up", "down") or not argument.isdigit() or int(argument) >= len(steps):
        return ""
    index = int(argument)
    if verb == "remove":
        steps.pop(index)
        return f"steps-{min(index, len(steps) - 1)}-label" if steps else "add-step"
    other = index - 1 if verb == "up" else index + 1
    if not 0 <= other < len(steps):
        return ""
    steps[index], steps[other] = steps[other], steps[index]
    at_edge = other == 0 if verb == "up" else other == len(steps) - 1
    return f"steps-{other}-{('down' if verb == 'up' else 'up') if at_edge else verb}"


def _trigger(form: MultiDict[str, str]) -> dict[str, Any]:
    kind = form.get("trigger_type", "segment_entered")
    trigger: dict[str, Any] = {"type": kind}
    if kind == "segment_entered":
        trigger["segment"] = form.get("trigger_segment", "")
        _record_pick(form, trigger)
    elif kind == "tag_added":
        trigger["tag"] = form.get("trigger_tag", "").strip()
        trigger["entity"] = form.get("trigger_entity", "profile")
        if trigger["entity"] == "profile":
            _record_pick(form, trigger)
    else:
        record, _, date_field = form.get("date_field", "quote.expires_at").partition(".")
        trigger.update(record=record, field=date_field, offset_days=form.get("offset_days", "0").strip() or 0,
                       statuses=_list(form.get("date_statuses", "")))
    return trigger


def _record_pick(form: MultiDict[str, str], trigger: dict[str, Any]) -> None:
    if record := form.get("trigger_record", ""):
        trigger["record"] = {"type": record, "statuses": _list(form.get("trigger_record_statuses", ""))}


def _steps(form: MultiDict[str, str], editor: EditorForm) -> list[dict[str, Any]]:
    rows: dict[int, dict[str, str | list[str]]] = {}
    for name in form:
        if match := _STEP_FIELD.match(name):
            values = form.getlist(name)
            rows.setdefault(int(match[1]), {})[match[2]] = values if match[2] == "weekdays" else values[0]
    return [_step(rows[n], index, editor) for index, n in enumerate(sorted(rows))]


def _step(row: dict[str, Any], index: int, editor: EditorForm) -> dict[str, Any]:
    kind = str(row.get("type", ""))
    if kind in ("send_email", "send_sms") and row.get("channel") in ("email", "sms"):
        kind = f"send_{row['channel']}"  # the card's channel picker switches between the two
    step: dict[str, Any] = {"type": kind}
    if row.get("key"):
        step["key"] = row["key"]
    if row.get("label"):
        step["label"] = row["label"]
    if kind in ("send_email", "send_sms"):
        step.update(template=row.get("template", ""), category=row.get("category", "marketing"))
    elif kind == "notify_owner":
        step["template"] = row.get("template", "")
    elif kind == "wait":
        if row.get("wait_kind") == "until":
            step["until"] = {"weekdays": [d for d in row.get("weekdays", []) if d in WEEKDAYS],
                             "time": row.get("time", "")}
        else:
            step["duration"] = {unit: _int(row.get(unit) or "0", f"steps[{index}].duration.{unit}", editor)
                                for unit in ("days", "hours", "minutes")}
    elif kind == "branch":
        step["rule"] = _json(row.get("rule", ""), f"steps[{index}].rule", editor)
        step.update(if_true=row.get("if_true") or "next", if_false=row.get("if_false") or "next")
    elif kind in ("add_tag", "remove_tag"):
        step["tag"] = row.get("tag", "").strip()
    elif kind == "exit" and row.get("reason"):
        step["reason"] = row["reason"]
    return step


def _goal(form: MultiDict[str, str], editor: EditorForm) -> dict[str, Any] | None:
    items = []
    for value in form.getlist("goal_since"):
        try:
            items.append(parse_json(value))
        except ValueError:
            editor.errors.append(FieldError("goal.since_enrollment", "an unreadable goal condition was sent"))
    rule_text = form.get("goal_rule", "").strip()
    rule = _json(rule_text, "goal.rule", editor) if rule_text else None
    if not items and rule is None:
        return None
    goal: dict[str, Any] = {"since_enrollment": items, "rule": rule}
    if window := form.get("conversion_window_days", "").strip():
        goal["conversion_window_days"] = _int(window, "goal.conversion_window_days", editor)
    return {k: v for k, v in goal.items() if v is not None}


def _json(text: str, name: str, editor: EditorForm) -> Any:
    editor.raw[name] = text
    try:
        return parse_json(text)
    except ValueError as exc:
        editor.errors.append(FieldError(name, f"is not valid JSON ({exc})"))
        return {}


def _int(text: str, name: str, editor: EditorForm) -> int:
    try:
        return int(text.strip())
    except ValueError:
        editor.errors.append(FieldError(name, "must be a whole number"))
        return 0


def _utc(text: str, name: str, editor: EditorForm) -> str | None:
    """A ``datetime-local`` value, read as UTC."""
    if not text.strip():
        return None
    try:
        return dt.datetime.fromisoformat(text.strip()).replace(tzinfo=dt.UTC).isoformat()
    except ValueError:
        editor.errors.append(FieldError(name, "must be a date and time like 2025-06-01T09:00"))
        return None


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _blank_step(kind: str) -> dict[str, Any]:
    blanks: dict[str, dict[str, Any]] = {
        "send_email": {"template": "", "category": "marketing"},
        "send_sms": {"template": "", "category": "marketing"},
        "notify_owner": {"template": ""},
        "wait": {"duration": {"days": 1, "hours": 0, "minutes": 0}},
        "branch": {"rule": {}, "if_true": "next", "if_false": "next"},
        "add_tag": {"tag": ""},
        "remove_tag": {"tag": ""},
        "exit": {},
    }
    return {"type": kind, **blanks[kind]}

"""New parameter values of a built-in segment carried into its rule as edited by hand in the same form.

The rule built from the old values and the one built from the new values differ exactly in the
conditions the parameters shape ("sent more than 14 days ago" becomes "... 7 days ago"). Each such
condition, found unchanged anywhere in the edited rule, takes the new values there too, so neither the
parameter change nor the hand edit is dropped.
"""

from __future__ import annotations

from typing import Any

from crm_segments.models import Segment
from crm_segments.segments.prebuilt import BY_KEY, Builtin, Params, checked_parameters


def rule_or_parameters(segment: Segment | None, rule: Any, parameters: Params | None) -> dict[str, Any]:
    """What an edit of ``segment`` saves, as ``{"rule": ...}`` or ``{"parameters": ...}``: new parameter
    values of a built-in rebuild its rule; a rule edited in the same edit keeps its edits with the new
    values carried in, and is then a rule written by hand."""
    if segment is None or segment.parameters is None:
        return {"rule": rule}
    builtin = BY_KEY.get(segment.key or "")
    if builtin is None or parameters is None or parameters == segment.parameters:
        return {"rule": rule}
    if not rule or rule == segment.rule:  # the rule was left as it was (or the page sent none)
        return {"parameters": parameters}
    old = checked_parameters(builtin, segment.parameters or {})
    merged = carry_parameters(builtin, old, parameters, rule)
    return {"parameters": parameters} if merged == builtin.build(parameters) else {"rule": merged}


def carry_parameters(builtin: Builtin, old: Params, new: Params, edited: Any) -> Any:
    """``edited`` (a rule first built from ``old``) with each condition the new values change replaced,
    wherever the edit moved it (into a group, say); a condition the edit changed stays as edited."""
    return _replace(edited, _changed_conditions(builtin.build(old), builtin.build(new)))


def _is_condition_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def _changed_conditions(old: Any, new: Any) -> list[tuple[Any, Any]]:
    """The smallest nodes (a condition with its values) in which the two built rules differ."""
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict) and old.keys() == new.keys():
        inner: list[tuple[Any, Any]] = []
        for key in old:
            if old[key] == new[key]:
                continue
            nested = isinstance(old[key], dict) or _is_condition_list(old[key])
            if not nested:
                return [(old, new)]  # a value of this very condition changed
            inner += _changed_conditions(old[key], new[key])
        return inner
    if _is_condition_list(old) and _is_condition_list(new) and len(old) == len(new):
        return [pair for before, after in zip(old, new, strict=True)
                for pair in _changed_conditions(before, after)]
    return [(old, new)]


def _replace(node: Any, changes: list[tuple[Any, Any]]) -> Any:
    for before, after in changes:
        if node == before:
            return after
    if isinstance(node, dict):
        return {key: _replace(value, changes) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace(item, changes) for item in node]
    return node

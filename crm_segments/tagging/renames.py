"""Renaming or merging tags keeps every reference by name working, in the same transaction.

Segment rules, auto-tag rule conditions, workflow branch and goal rules and add/remove-tag steps
name tags (a workflow's trigger keeps the name too, for its editor and exports); they are rewritten
to the new name, or to the surviving tag's name after a merge. Rules are rewritten through the
parsed tree (segments/usages.py), so only tag conditions change.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.models import AutoTagRule, Segment, Workflow
from crm_segments.models.tags import normalize_tag_name
from crm_segments.segments.rules import TagCondition
from crm_segments.segments.usages import TAG_STEPS, rule_nodes

Renames = Mapping[str, str]  # normalized old name -> new name


def rename_references(session: Session, renames: Renames) -> int:
    """Point every reference to a tag named in ``renames`` at its new name; returns how many
    segments, auto-tag rules and workflows changed."""
    changed = 0
    for segment in session.scalars(select(Segment).where(Segment.kind == "live")):
        rule = renamed_rule(segment.rule, renames)
        if rule is not None:
            segment.rule = rule
            changed += 1
    for auto_rule in session.scalars(select(AutoTagRule)):
        condition = renamed_rule(auto_rule.condition, renames, root=auto_rule.entity_type)
        if condition is not None:
            auto_rule.condition = condition
            changed += 1
    for workflow in session.scalars(select(Workflow)):
        changed += _rename_in_workflow(workflow, renames)
    session.flush()
    return changed


def renamed_rule(doc: Any, renames: Renames, *, root: str = "profile") -> dict[str, Any] | None:
    """A copy of the rule document with renamed tags, or None when it names none of them."""
    if not doc:
        return None
    new = copy.deepcopy(doc)
    changed = False
    for found in rule_nodes(new, root=root):
        if isinstance(found.node, TagCondition):
            names = _renamed_names(found.node.names, renames)
            if names is not None:
                raw = found.doc["tags"]
                found.doc["tags"] = names[0] if isinstance(raw, str) and len(names) == 1 else names
                changed = True
    return new if changed else None


def _renamed_names(names: tuple[str, ...], renames: Renames) -> list[str] | None:
    if not any(normalize_tag_name(n) in renames for n in names):
        return None
    kept: dict[str, str] = {}  # one entry per tag: a merge can make two names the same tag
    for name in names:
        new = renames.get(normalize_tag_name(name), name)
        kept.setdefault(normalize_tag_name(new), new)
    return list(kept.values())


def _rename_in_workflow(workflow: Workflow, renames: Renames) -> int:
    changed = False
    config = workflow.trigger_config or {}
    trigger_name = config.get("tag")
    if workflow.trigger_type == "tag_added" and isinstance(trigger_name, str):
        new_name = renames.get(normalize_tag_name(trigger_name))
        if new_name is not None:
            workflow.trigger_config = {**config, "tag": new_name}
            changed = True
    steps = copy.deepcopy(workflow.steps or [])
    steps_changed = False
    for step in steps:
        if step.get("type") in TAG_STEPS and isinstance(step.get("tag"), str):
            new_name = renames.get(normalize_tag_name(step["tag"]))
            if new_name is not None:
                step["tag"] = new_name
                steps_changed = True
        elif step.get("type") == "branch":
            rule = renamed_rule(step.get("rule"), renames)
            if rule is not None:
                step["rule"] = rule
                steps_changed = True
    if steps_changed:
        workflow.steps = steps
        changed = True
    goal_rule = renamed_rule((workflow.goal or {}).get("rule"), renames)
    if goal_rule is not None:
        workflow.goal = {**(workflow.goal or {}), "rule": goal_rule}
        changed = True
    return int(changed)

"""Who uses a tag, a segment or a message template.

Users are workflows (trigger, add/remove-tag steps, message steps, branch and goal rules), live
segments (their rule) and auto-tag rules (the tag they apply and their condition). Rules are walked
as the rule parser's typed tree, next to the JSON they came from, so a tag name inside a text value
never counts as a use; a stored rule that no longer parses uses nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.models import AutoTagRule, Segment, Tag, Workflow
from crm_segments.models.tags import normalize_tag_name
from crm_segments.segments.rules import (
    AllOf,
    AnyOf,
    NotOf,
    ProfileCondition,
    RecordCondition,
    Rule,
    SegmentCondition,
    TagCondition,
    parse_rule,
)

UserKind = Literal["workflow", "segment", "auto_tag_rule"]
APPLIES_TAG = "the tag it applies"
TAG_STEPS = ("add_tag", "remove_tag")
MESSAGE_STEPS = ("send_email", "send_sms", "notify_owner")


@dataclass(frozen=True)
class Use:
    kind: UserKind
    id: int
    name: str
    where: str  # "trigger", "steps[2].tag", "rule.all[1].tags", "goal.rule.segment", APPLIES_TAG
    status: str  # a workflow's status; "enabled" / "disabled" for auto-tag rules; "live" for segments

    @property
    def is_condition(self) -> bool:
        """A segment's or auto-tag rule's condition: without the tag or segment it would silently
        match other people, so such a use is changed by a person, never detached."""
        return self.kind != "workflow" and self.where != APPLIES_TAG


@dataclass(frozen=True)
class RuleNode:
    """A tag or segment condition of a rule: where it is, as parsed, and its JSON object."""

    path: str  # of its key: "rule.all[1].tags", "rule.not.segment"
    node: TagCondition | SegmentCondition
    doc: dict[str, Any]


def rule_nodes(doc: Any, *, root: str = "profile") -> list[RuleNode]:
    """The tag and segment conditions of a rule document, in document order."""
    try:
        tree = parse_rule(doc, root=root)
    except (ValueError, TypeError, RecursionError):
        return []
    return list(_walk(tree, doc, "rule"))


def _walk(rule: Rule, doc: dict[str, Any], path: str) -> Iterator[RuleNode]:
    if isinstance(rule, AllOf | AnyOf):
        kind = "all" if isinstance(rule, AllOf) else "any"
        for index, (child, child_doc) in enumerate(zip(rule.children, doc[kind], strict=True)):
            yield from _walk(child, child_doc, f"{path}.{kind}[{index}]")
    elif isinstance(rule, NotOf):
        yield from _walk(rule.child, doc["not"], f"{path}.not")
    elif isinstance(rule, ProfileCondition):
        yield from _walk(rule.rule, doc["profile"], f"{path}.profile")
    elif isinstance(rule, RecordCondition) and rule.where is not None:
        yield from _walk(rule.where, doc["where"], f"{path}.where")
    elif isinstance(rule, TagCondition):
        yield RuleNode(f"{path}.tags", rule, doc)
    elif isinstance(rule, SegmentCondition):
        yield RuleNode(f"{path}.segment", rule, doc)


def names_tag(node: RuleNode, name_key: str) -> bool:
    return isinstance(node.node, TagCondition) and any(
        normalize_tag_name(name) == name_key for name in node.node.names)


def names_segment(node: RuleNode, segment: Segment) -> bool:
    return isinstance(node.node, SegmentCondition) and node.node.segment in _segment_refs(segment)


def _segment_refs(segment: Segment) -> set[int | str]:
    return {segment.id, segment.key} if segment.key else {segment.id}


def workflow_rules(workflow: Workflow) -> Iterator[tuple[str, Any]]:
    """(where, rule document) of each branch step's rule and of the goal's rule."""
    for index, step in enumerate(workflow.steps or []):
        if step.get("type") == "branch":
            yield f"steps[{index}].", step.get("rule")
    if workflow.goal and workflow.goal.get("rule") is not None:
        yield "goal.", workflow.goal["rule"]


def _workflows(session: Session) -> list[Workflow]:
    return list(session.scalars(select(Workflow).order_by(Workflow.name)))


def _live_segments(session: Session) -> list[Segment]:
    return list(session.scalars(select(Segment).where(Segment.kind == "live").order_by(Segment.name)))


def _auto_tag_rules(session: Session) -> list[AutoTagRule]:
    return list(session.scalars(select(AutoTagRule).order_by(AutoTagRule.name)))


def _rule_status(rule: AutoTagRule) -> str:
    return "enabled" if rule.enabled else "disabled"


def tag_users(session: Session, tag: Tag) -> list[Use]:
    """Every use of ``tag``: workflows by trigger (id) or by name, rules by name or by the tag they apply."""
    key = tag.name_key
    uses: list[Use] = []
    for workflow in _workflows(session):
        wheres = []
        if workflow.trigger_type == "tag_added" and workflow.trigger_tag_id == tag.id:
            wheres.append("trigger")
        for index, step in enumerate(workflow.steps or []):
            if step.get("type") in TAG_STEPS and normalize_tag_name(str(step.get("tag", ""))) == key:
                wheres.append(f"steps[{index}].tag")
        for prefix, doc in workflow_rules(workflow):
            wheres += [prefix + n.path for n in rule_nodes(doc) if names_tag(n, key)]
        uses += [Use("workflow", workflow.id, workflow.name, w, workflow.status) for w in wheres]
    for segment in _live_segments(session):
        uses += [Use("segment", segment.id, segment.name, n.path, "live")
                 for n in rule_nodes(segment.rule) if names_tag(n, key)]
    for rule in _auto_tag_rules(session):
        if rule.tag_id == tag.id:
            uses.append(Use("auto_tag_rule", rule.id, rule.name, APPLIES_TAG, _rule_status(rule)))
        uses += [Use("auto_tag_rule", rule.id, rule.name, "condition" + n.path.removeprefix("rule"),
                     _rule_status(rule))
                 for n in rule_nodes(rule.condition, root=rule.entity_type) if names_tag(n, key)]
    return uses


def segment_users(session: Session, segment: Segment) -> list[Use]:
    """Every use of ``segment``: workflows by trigger or in their rules, other segments' and auto-tag
    rules' membership conditions (by id or key)."""
    uses: list[Use] = []
    for workflow in _workflows(session):
        wheres = ["trigger"] if workflow.trigger_segment_id == segment.id else []
        for prefix, doc in workflow_rules(workflow):
            wheres += [prefix + n.path for n in rule_nodes(doc) if names_segment(n, segment)]
        uses += [Use("workflow", workflow.id, workflow.name, w, workflow.status) for w in wheres]
    for other in _live_segments(session):
        if other.id != segment.id:
            uses += [Use("segment", other.id, other.name, n.path, "live")
                     for n in rule_nodes(other.rule) if names_segment(n, segment)]
    for rule in _auto_tag_rules(session):
        uses += [Use("auto_tag_rule", rule.id, rule.name, "condition" + n.path.removeprefix("rule"),
                     _rule_status(rule))
                 for n in rule_nodes(rule.condition, root=rule.entity_type) if names_segment(n, segment)]
    return uses


def template_users(session: Session, key: str) -> list[Use]:
    """Every workflow step that sends the message template ``key``."""
    return [
        Use("workflow", workflow.id, workflow.name, f"steps[{index}].template", workflow.status)
        for workflow in _workflows(session)
        for index, step in enumerate(workflow.steps or [])
        if step.get("type") in MESSAGE_STEPS and step.get("template") == key
    ]

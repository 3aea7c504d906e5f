"""Auto-tag rules: create, change, delete, reset to shipped; conditions checked up front.

Creates and changes take the input models (``AutoTagRuleIn``, ``AutoTagRulePatch``), whose values were
checked where they were built (the API, the rule editor); here the condition, the unique name and the
tag, which need the rule language or the database.

A rule's condition is a document in the segment rule language (crm_segments/segments/rules.py),
over profiles or, for record tags, over quotes, jobs or opportunities. An invalid condition is
refused with the path of the offending node under the ``condition`` field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import Conflict, FieldError, NotFound, ValidationFailed
from crm_segments.models import AutoTagRule
from crm_segments.schemas.auto_tag_rules import AutoTagRuleIn, AutoTagRulePatch
from crm_segments.segments.rules import Rule, RuleError, parse_rule

from .manual import resolve_tag
from .names import DEFAULT_TAGS_PER_MINUTE


def parse_condition(condition: Any, *, entity_type: str, field: str = "condition") -> Rule:
    """The parsed rule; ValidationFailed names ``condition.<path>`` of the offending node."""
    try:
        return parse_rule(condition, root=entity_type)
    except RuleError as exc:
        where = field + exc.path.removeprefix("rule")
        raise ValidationFailed([FieldError(where, exc.message)]) from None


def get_rule(*, session: Session, rule_id: int) -> AutoTagRule:
    rule = session.get(AutoTagRule, rule_id)
    if rule is None:
        raise NotFound(f"rule_id: no auto-tag rule with id {rule_id}")
    return rule


def list_rules(*, session: Session) -> Sequence[AutoTagRule]:
    return list(session.scalars(select(AutoTagRule).order_by(AutoTagRule.name)))


def _checked_condition(condition: Any, entity_type: str) -> Any:
    parse_condition(condition, entity_type=entity_type)
    return condition


def _check_name_free(session: Session, name: str, rule_id: int | None) -> None:
    other = session.scalar(select(AutoTagRule.id).where(AutoTagRule.name == name))
    if other is not None and other != rule_id:
        raise Conflict("name", f"an auto-tag rule named {name!r} already exists")


def create_rule(
    *, session: Session, data: AutoTagRuleIn, user_id: int | None = None,
    per_minute: int | None = DEFAULT_TAGS_PER_MINUTE,
) -> AutoTagRule:
    """A new rule; a tag named that does not exist yet is created, counted against the user's
    ``per_minute`` new tags (RateLimited past it)."""
    _checked_condition(data.condition, data.entity_type)
    _check_name_free(session, data.name, None)
    tag = resolve_tag(session=session, tag_name=data.tag, tag_id=data.tag_id, user_id=user_id,
                      per_minute=per_minute)
    rule = AutoTagRule(**data.model_dump(exclude={"tag", "tag_id"}), tag_id=tag.id, created_by_id=user_id)
    session.add(rule)
    session.flush()
    return rule


def update_rule(
    *, session: Session, rule_id: int, data: AutoTagRulePatch | AutoTagRuleIn, user_id: int | None = None,
    per_minute: int | None = DEFAULT_TAGS_PER_MINUTE,
) -> AutoTagRule:
    """Change the fields set in ``data`` (others are kept; the editor's full AutoTagRuleIn sets them all);
    every field is checked before anything changes."""
    rule = get_rule(session=session, rule_id=rule_id)
    given = data.model_dump(exclude_unset=True, exclude={"tag", "tag_id"})
    if "condition" in given or "entity_type" in given:  # a new type needs a condition over its records
        _checked_condition(given.get("condition", rule.condition), given.get("entity_type", rule.entity_type))
    if "name" in given:
        _check_name_free(session, given["name"], rule.id)
    if data.tag is not None or data.tag_id is not None:
        rule.tag_id = resolve_tag(session=session, tag_name=data.tag, tag_id=data.tag_id, user_id=user_id,
                                  per_minute=per_minute).id
    for key, value in given.items():
        setattr(rule, key, value)
    session.flush()
    return rule


def reset_to_shipped(*, session: Session, rule_id: int) -> AutoTagRule:
    rule = get_rule(session=session, rule_id=rule_id)
    if rule.shipped_condition is None:
        raise ValidationFailed([FieldError("rule_id", "only shipped rules can be reset")])
    rule.condition = rule.shipped_condition
    session.flush()
    return rule


def delete_rule(*, session: Session, rule_id: int) -> None:
    """Delete the rule; the tags it added stay (they lose their link to the rule)."""
    session.delete(get_rule(session=session, rule_id=rule_id))
    session.flush()

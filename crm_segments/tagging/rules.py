"""Auto-tag rules: create, change, delete, reset to shipped; conditions checked up front.

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
from crm_segments.models.tags import AUTO_TAG_MODES
from crm_segments.records.entities import check_entity_type
from crm_segments.segments.rules import Rule, RuleError, parse_rule

from .manual import resolve_tag
from .names import DEFAULT_TAGS_PER_MINUTE

NAME_MAX = 120
_UNSET: Any = object()


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


def _clean(values: dict[str, Any], rule: AutoTagRule | None) -> dict[str, Any]:
    errors: list[FieldError] = []
    cleaned: dict[str, Any] = {}
    if "name" in values:
        name = " ".join(str(values["name"] or "").split()) if isinstance(values["name"], str | None) else None
        if not name or len(name) > NAME_MAX:
            errors.append(FieldError("name", f"give a name of 1 to {NAME_MAX} characters"))
        cleaned["name"] = name
    if "description" in values:
        if not isinstance(values["description"], str) or len(values["description"]) > 2000:
            errors.append(FieldError("description", "must be text of at most 2,000 characters"))
        cleaned["description"] = values["description"]
    if "mode" in values:
        if values["mode"] not in AUTO_TAG_MODES:
            errors.append(FieldError("mode", "must be sticky (only adds) or live (adds and removes)"))
        cleaned["mode"] = values["mode"]
    if "enabled" in values:
        if not isinstance(values["enabled"], bool):
            errors.append(FieldError("enabled", "must be true or false"))
        cleaned["enabled"] = values["enabled"]
    entity_type = values.get("entity_type", rule.entity_type if rule else None)
    try:
        check_entity_type(entity_type if isinstance(entity_type, str) else "")
        cleaned["entity_type"] = entity_type
    except ValidationFailed as exc:
        errors.extend(exc.errors)
        entity_type = None
    if entity_type and ("condition" in values or "entity_type" in values):
        condition = values.get("condition", rule.condition if rule else None)
        try:
            parse_condition(condition, entity_type=entity_type)
            cleaned["condition"] = condition
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _check_name_free(session: Session, name: str, rule_id: int | None) -> None:
    other = session.scalar(select(AutoTagRule.id).where(AutoTagRule.name == name))
    if other is not None and other != rule_id:
        raise Conflict("name", f"an auto-tag rule named {name!r} already exists")


def create_rule(
    *, session: Session, name: Any, entity_type: Any, condition: Any, tag_name: Any = None,
    tag_id: int | None = None, mode: Any = "sticky", enabled: Any = True, description: Any = "",
    user_id: int | None = None, per_minute: int | None = DEFAULT_TAGS_PER_MINUTE,
) -> AutoTagRule:
    """A new rule; a tag named that does not exist yet is created, counted against the user's
    ``per_minute`` new tags (RateLimited past it)."""
    cleaned = _clean({"name": name, "entity_type": entity_type, "condition": condition, "mode": mode,
                      "enabled": enabled, "description": description}, None)
    _check_name_free(session, cleaned["name"], None)
    tag = resolve_tag(session=session, tag_name=tag_name, tag_id=tag_id, user_id=user_id,
                      per_minute=per_minute)
    rule = AutoTagRule(**cleaned, tag_id=tag.id, created_by_id=user_id)
    session.add(rule)
    session.flush()
    return rule


def update_rule(
    *, session: Session, rule_id: int, name: Any = _UNSET, entity_type: Any = _UNSET, condition: Any = _UNSET,
    tag_name: Any = None, tag_id: int | None = None, mode: Any = _UNSET, enabled: Any = _UNSET,
    description: Any = _UNSET, user_id: int | None = None, per_minute: int | None = DEFAULT_TAGS_PER_MINUTE,
) -> AutoTagRule:
    """Change the given fields (others are kept); every field is checked before anything changes."""
    rule = get_rule(session=session, rule_id=rule_id)
    given = {k: v for k, v in (("name", name), ("entity_type", entity_type), ("condition", condition),
                               ("mode", mode), ("enabled", enabled), ("description", description))
             if v is not _UNSET}
    cleaned = _clean(given, rule)
    if "name" in cleaned:
        _check_name_free(session, cleaned["name"], rule.id)
    if tag_name is not None or tag_id is not None:
        rule.tag_id = resolve_tag(session=session, tag_name=tag_name, tag_id=tag_id, user_id=user_id,
                                  per_minute=per_minute).id
    for key, value in cleaned.items():
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

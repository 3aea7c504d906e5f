"""Check what a definition points at: the trigger's segment or tag, the rules and the templates (which
must render with what the trigger gives, see template_fit.py).

All problems are collected and raised together, each naming its field, so an admin (or the author
of a YAML file) fixes them in one go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.models import Segment, Tag
from crm_segments.models.tags import normalize_tag_name

from . import rules, templates
from .definition import DateTrigger, SegmentTrigger, TagTrigger, Trigger, WorkflowDefinition
from .step_types import AddTag, Branch, NotifyOwner, RemoveTag, SendEmail, SendSms, Step

_STEP = TypeAdapter[Step](Step)
_TRIGGER = TypeAdapter[SegmentTrigger | TagTrigger | DateTrigger](Trigger)


@dataclass(frozen=True)
class Resolved:
    segment_id: int | None = None
    tag_id: int | None = None


def find_segment(session: Session, ref: str) -> Segment | None:
    """A segment by its stable key (shipped ones) or its name."""
    return session.scalars(
        select(Segment).where(or_(Segment.key == ref, Segment.name == ref)).order_by(Segment.key.is_(None))
    ).first()


def find_tag(session: Session, name: str) -> Tag | None:
    return session.scalars(select(Tag).where(Tag.name_key == normalize_tag_name(name))).first()


def resolve(session: Session, definition: WorkflowDefinition, *, prefix: str = "") -> Resolved:
    """The ids the trigger names; raises ValidationFailed listing every unknown reference."""
    resolved, errors = _trigger_reference(session, definition.trigger, prefix=prefix)
    for index, step in enumerate(definition.steps):
        errors.extend(_step_errors(session, step, definition.trigger, where=f"{prefix}steps[{index}]"))
    if definition.goal is not None and definition.goal.rule is not None:
        errors.extend(rules.rule_errors(definition.goal.rule, field=f"{prefix}goal.rule"))
    if errors:
        raise ValidationFailed(errors)
    return resolved


def partial_errors(session: Session, data: Any, *, prefix: str = "") -> list[FieldError]:
    """The reference problems of a definition whose shape is wrong somewhere: the trigger and every
    step that parse on their own are checked, so a file with several mistakes reports them all."""
    if not isinstance(data, dict):
        return []
    trigger = None
    errors: list[FieldError] = []
    try:
        trigger = _TRIGGER.validate_python(data.get("trigger"))
    except ValidationError:
        pass
    else:
        errors.extend(_trigger_reference(session, trigger, prefix=prefix)[1])
    steps = data.get("steps")
    for index, raw in enumerate(steps if isinstance(steps, list) else []):
        try:
            step = _STEP.validate_python(raw)
        except ValidationError:
            continue
        errors.extend(_step_errors(session, step, trigger, where=f"{prefix}steps[{index}]"))
    return errors


def _trigger_reference(session: Session, trigger: SegmentTrigger | TagTrigger | DateTrigger, *,
                       prefix: str) -> tuple[Resolved, list[FieldError]]:
    errors: list[FieldError] = []
    resolved = Resolved()
    if isinstance(trigger, SegmentTrigger):
        segment = find_segment(session, trigger.segment)
        if segment is None:
            errors.append(FieldError(f"{prefix}trigger.segment",
                                     f"no segment has the key or name {trigger.segment!r}"))
        else:
            resolved = Resolved(segment_id=segment.id)
    elif isinstance(trigger, TagTrigger):
        tag = find_tag(session, trigger.tag)
        if tag is None:
            errors.append(FieldError(f"{prefix}trigger.tag", f"no tag is named {trigger.tag!r}"))
        else:
            resolved = Resolved(tag_id=tag.id)
    return resolved, errors


def _step_errors(session: Session, step: Step, trigger: SegmentTrigger | TagTrigger | DateTrigger | None, *,
                 where: str) -> list[FieldError]:
    if isinstance(step, Branch):
        return rules.rule_errors(step.rule, field=f"{where}.rule")
    if isinstance(step, AddTag | RemoveTag):
        return _tag_name_errors(step.tag, field=f"{where}.tag")
    if isinstance(step, SendEmail | NotifyOwner | SendSms):
        channel = "sms" if isinstance(step, SendSms) else "email"
        return templates.template_errors(session, step.template, channel=channel, field=f"{where}.template",
                                         trigger=trigger, category=getattr(step, "category", None))
    return []


def _tag_name_errors(name: str, *, field: str) -> list[FieldError]:
    from crm_segments.tagging.names import clean_tag_name

    try:
        clean_tag_name(name, field=field)
    except ValidationFailed as exc:
        return exc.errors
    return []

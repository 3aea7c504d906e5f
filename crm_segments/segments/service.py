"""Create, change and delete segments, with every input checked before anything is written.

Used by the segment screens and the JSON API; who may call what (admins change, sales view and
export) is decided there. Saving does not refresh: the caller runs ``refresh.run_refresh`` after
committing, so the new members come from committed data in a transaction of their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.db import utcnow
from crm_segments.kernel.errors import Conflict, FieldError, NotFound, ValidationFailed
from crm_segments.models import Segment, Workflow
from crm_segments.models.segments import SEGMENT_KINDS
from crm_segments.segments.deletion import check_deletable, deletion_reason, pause_workflows
from crm_segments.segments.usages import segment_users

from .describe import describe
from .prebuilt import apply_parameters
from .preview import parse_checked
from .query_segments import validate_query
from .rules import RuleError, parse_rule

EDITABLE = ("name", "description", "rule", "query_sql", "refresh_interval_minutes", "parameters")
MAX_INTERVAL = 7 * 24 * 60


def get_segment(session: Session, segment_id: int) -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(f"no segment with id {segment_id}")
    return segment


def list_segments(session: Session) -> list[Segment]:
    return list(session.scalars(select(Segment).order_by(Segment.is_builtin.desc(), Segment.name)))


def create_segment(session: Session, *, data: Mapping[str, Any], actor_id: int | None = None) -> Segment:
    if not isinstance(data, Mapping):
        raise ValidationFailed([FieldError("body", "must be an object")])
    kind = data.get("kind", "live")
    if kind not in SEGMENT_KINDS:
        raise ValidationFailed([FieldError("kind", f"must be one of: {', '.join(SEGMENT_KINDS)}")])
    if "name" not in data:
        raise ValidationFailed([FieldError("name", "is required")])
    segment = Segment(kind=kind, name="", description="", created_by_id=actor_id)
    _apply(session, segment, data, creating=True)
    session.add(segment)
    session.flush()
    return segment


def update_segment(session: Session, segment: Segment, *, data: Mapping[str, Any]) -> Segment:
    if not isinstance(data, Mapping):
        raise ValidationFailed([FieldError("body", "must be an object")])
    if "kind" in data and data["kind"] != segment.kind:
        raise ValidationFailed([FieldError("kind", "cannot be changed; create a new segment instead")])
    _apply(session, segment, {k: v for k, v in data.items() if k != "kind"}, creating=False)
    session.flush()
    return segment


def _apply(session: Session, segment: Segment, data: Mapping[str, Any], *, creating: bool) -> None:
    unknown = sorted(set(data) - set(EDITABLE) - {"kind"})
    if unknown:
        raise ValidationFailed([FieldError(unknown[0], "unknown field")])
    if "name" in data:
        old_name, segment.name = segment.name, _name(session, data["name"], segment.id)
        if segment.id is not None and old_name != segment.name:
            _rename_in_triggers(session, segment, old_name)
    if "description" in data:
        description = data["description"] if data["description"] is not None else ""
        if not isinstance(description, str) or len(description) > 2000:
            raise ValidationFailed([FieldError("description", "must be a text of at most 2000 characters")])
        segment.description = description
    if "refresh_interval_minutes" in data:
        minutes = data["refresh_interval_minutes"]
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 0 <= minutes <= MAX_INTERVAL:
            raise ValidationFailed([FieldError("refresh_interval_minutes",
                                               f"must be a whole number from 0 (never) to {MAX_INTERVAL}")])
        segment.refresh_interval_minutes = minutes
    if segment.kind == "live":
        _apply_rule(session, segment, data, creating=creating)
    elif segment.kind == "query":
        if creating or "query_sql" in data:
            dialect = session.get_bind().dialect.name
            segment.query_sql = validate_query(data.get("query_sql") or "", dialect=dialect)
    for name in ("rule", "query_sql", "parameters"):
        if name in data and data[name] is not None and not _belongs(segment.kind, name):
            raise ValidationFailed([FieldError(name, f"a {segment.kind} segment has no {name}")])


def _rename_in_triggers(session: Session, segment: Segment, old_name: str) -> None:
    """Workflows keep their trigger segment's name for the editor and exports: follow the rename."""
    for workflow in session.scalars(select(Workflow).where(Workflow.trigger_segment_id == segment.id)):
        if (workflow.trigger_config or {}).get("segment") == old_name:
            workflow.trigger_config = {**workflow.trigger_config, "segment": segment.name}


def _belongs(kind: str, field: str) -> bool:
    return {"rule": kind == "live", "parameters": kind == "live", "query_sql": kind == "query"}[field]


def _apply_rule(session: Session, segment: Segment, data: Mapping[str, Any], *, creating: bool) -> None:
    if "parameters" in data and data["parameters"] is not None:
        if "rule" in data:
            raise ValidationFailed([FieldError("parameters", "give either parameters or a rule, not both")])
        if not isinstance(data["parameters"], Mapping):
            raise ValidationFailed([FieldError("parameters", "must be an object")])
        apply_parameters(segment, data["parameters"])
        parse_checked(session, segment.rule, segment_id=segment.id, key=segment.key)
        return
    if creating and "rule" not in data:
        raise ValidationFailed([FieldError("rule", "a live segment needs a rule")])
    if "rule" in data:
        parse_checked(session, data["rule"], segment_id=segment.id, key=segment.key)
        if data["rule"] != segment.rule:
            segment.rule = data["rule"]
            segment.parameters = None  # a hand-written rule: the built-in's parameters no longer apply


def _name(session: Session, raw: Any, segment_id: int | None) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw.strip()) > 120:
        raise ValidationFailed([FieldError("name", "must be a text of 1-120 characters")])
    name = " ".join(raw.split())
    clash = session.scalar(select(Segment.id).where(func.lower(Segment.name) == name.lower()))
    if clash is not None and clash != segment_id:
        raise Conflict("name", f"a segment named {name!r} already exists")
    return name


def delete_segment(session: Session, segment: Segment, *, on_use: str = "refuse", user_id: int | None = None,
                   now: dt.datetime | None = None) -> list[Workflow]:
    """Delete the segment; returns the workflows paused because they used it.

    When something uses it, InUse is raised and nothing changes, unless ``on_use`` is "detach":
    then the workflows that use it (trigger, branch or goal rules) are paused with the reason.
    Another segment's or an auto-tag rule's membership condition always refuses.
    """
    if segment.is_builtin:
        raise ValidationFailed([FieldError("segment", f"{segment.name!r} is built in; reset it instead of "
                                                      "deleting it")])
    what = f"segment {segment.name!r}"
    uses = segment_users(session, segment)
    check_deletable(what, uses, on_use)
    paused = pause_workflows(session, uses, reason=deletion_reason(session, what, user_id=user_id,
                                                                   now=now or utcnow()))
    session.delete(segment)
    session.flush()
    return paused


def segment_names(session: Session) -> dict[int | str, str]:
    """Names by id and by key, for rules in words."""
    names: dict[int | str, str] = {}
    for segment_id, key, name in session.execute(select(Segment.id, Segment.key, Segment.name)):
        names[segment_id] = name
        if key:
            names[key] = name
    return names


def rule_text(segment: Segment, names: Mapping[int | str, str] | None = None) -> str | None:
    """A live segment's rule in words (None for other kinds, or a rule that no longer parses)."""
    if segment.kind != "live" or not segment.rule:
        return None
    try:
        return describe(parse_rule(segment.rule), segment_names=names or {})
    except RuleError as exc:
        return f"(unusable rule: {exc})"

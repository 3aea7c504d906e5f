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
from crm_segments.schemas.segments import SegmentIn, SegmentPatch
from crm_segments.segments.deletion import check_deletable, deletion_reason, pause_workflows
from crm_segments.segments.usages import segment_users

from .describe import describe
from .prebuilt import apply_parameters
from .preview import parse_checked
from .query_segments import validate_query
from .rules import RuleError, parse_rule


def get_segment(session: Session, segment_id: int) -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(f"no segment with id {segment_id}")
    return segment


def list_segments(session: Session) -> list[Segment]:
    return list(session.scalars(select(Segment).order_by(Segment.is_builtin.desc(), Segment.name)))


def create_segment(session: Session, *, data: SegmentIn, actor_id: int | None = None) -> Segment:
    segment = Segment(kind=data.kind, name="", description="", created_by_id=actor_id)
    _apply(session, segment, data.model_dump(exclude={"kind"}, exclude_none=True), creating=True)
    session.add(segment)
    session.flush()
    return segment


def update_segment(session: Session, segment: Segment, *, data: SegmentPatch) -> Segment:
    """Change the fields ``data`` was given (a null description clears it)."""
    _apply(session, segment, data.model_dump(exclude_unset=True), creating=False)
    session.flush()
    return segment


def _apply(session: Session, segment: Segment, data: Mapping[str, Any], *, creating: bool) -> None:
    """Write checked values (the input models checked each on its own) that the database and the
    segment's kind allow."""
    if data.get("name") is not None:
        old_name, segment.name = segment.name, _unique_name(session, data["name"], segment.id)
        if segment.id is not None and old_name != segment.name:
            _rename_in_triggers(session, segment, old_name)
    if "description" in data:
        segment.description = data["description"] or ""
    if data.get("refresh_interval_minutes") is not None:
        segment.refresh_interval_minutes = data["refresh_interval_minutes"]
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


def _unique_name(session: Session, name: str, segment_id: int | None) -> str:
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

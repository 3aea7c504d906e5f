"""Static lists: members added and removed by people, by ids, a bulk selection or a CSV file.

Every change writes entered / exited events with who made it and how (``source``), so the list's
log shows its whole history, and a size point, so its size chart works like a live segment's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.kernel.sql import line_values
from crm_segments.models import Profile, Segment, SegmentSizePoint
from crm_segments.selection.from_csv import read_keys
from crm_segments.selection.targets import by_ids

from .membership import Diff, adjust_member_count, apply_diff, lock_segment

Action = Literal["add", "remove"]
MAX_REPORTED = 1000  # unmatched lines listed in a CSV report; the count covers all of them


@dataclass(frozen=True)
class CsvReport:
    column: str  # email or external_id
    rows: int
    matched_rows: int
    unmatched: list[tuple[int, str]] = field(default_factory=list)  # (line, value), first ones
    unmatched_count: int = 0
    diff: Diff = Diff()


def _require_static(segment: Segment) -> None:
    if segment.kind != "static":
        raise ValidationFailed([FieldError("segment", f"{segment.name!r} is a {segment.kind} segment; "
                                                      "only static lists are changed by hand")])


def change_members(session: Session, segment: Segment, selection: Select[Any], *, action: Action,
                   now: dt.datetime, source: str = "manual", actor_id: int | None = None) -> Diff:
    """Add (or remove) the profiles of ``selection`` (a select of distinct profile ids)."""
    _require_static(segment)
    if action not in ("add", "remove"):
        raise ValidationFailed([FieldError("action", "must be add or remove")])
    lock_segment(session, segment.id)
    diff = apply_diff(session, segment.id, selection, now=now, version=segment.version, source=source,
                      actor_id=actor_id, only_add=action == "add", only_remove=action == "remove")
    if diff.changed:
        adjust_member_count(session, segment.id, diff)
        session.add(SegmentSizePoint(segment_id=segment.id, measured_at=now, size=segment.member_count,
                                     entered=diff.entered, exited=diff.exited))
        session.flush()
    return diff


def change_by_ids(session: Session, segment: Segment, ids: object, *, action: Action, now: dt.datetime,
                  source: str = "manual", actor_id: int | None = None) -> Diff:
    """Add or remove profiles by id; an unknown id refuses the whole change and is named."""
    _require_static(segment)
    selection = by_ids(session=session, entity_type="profile", ids=ids)
    return change_members(session, segment, selection.ids, action=action, now=now, source=source,
                          actor_id=actor_id)


def change_by_csv(session: Session, segment: Segment, content: bytes | str, *, action: Action,
                  now: dt.datetime, actor_id: int | None = None) -> CsvReport:
    """Add or remove the profiles a CSV of emails or external ids names.

    A malformed file or line refuses the whole file (ValidationFailed by line). Lines that are
    well-formed but match no profile are reported; the others are applied.
    """
    _require_static(segment)
    keys = read_keys(content)
    if keys.errors:
        shown = sorted(keys.errors, key=lambda e: e.row or 0)[:100]
        if len(keys.errors) > len(shown):
            shown.append(FieldError("file", f"and {len(keys.errors) - len(shown):,} more malformed lines"))
        raise ValidationFailed(shown)
    profile_key = Profile.email if keys.column == "email" else Profile.external_id
    values = line_values(session, keys.rows)
    no_match = ~select(Profile.id).where(profile_key == values.c.value).exists()
    unmatched_rows = session.execute(
        select(values.c.line, values.c.value, func.count().over()).where(no_match)
        .order_by(values.c.line).limit(MAX_REPORTED)).all()
    unmatched_count = int(unmatched_rows[0][2]) if unmatched_rows else 0
    matched = line_values(session, keys.rows)
    ids = select(Profile.id).join(matched, profile_key == matched.c.value).distinct()
    diff = change_members(session, segment, ids, action=action, now=now, source="csv", actor_id=actor_id)
    return CsvReport(keys.column, len(keys.rows), len(keys.rows) - unmatched_count,
                     [(int(line), str(value)) for line, value, _ in unmatched_rows], unmatched_count, diff)

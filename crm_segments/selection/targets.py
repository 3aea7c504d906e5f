"""What a bulk operation applies to: explicit ids, the filtered profiles list or record list, or a
segment.

A selection is a ``SELECT`` of entity ids (no duplicates) that bulk statements use as a subquery,
so the whole set is handled in the database, never loaded into Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import FieldError, NotFound, ValidationFailed
from crm_segments.kernel.sql import id_values
from crm_segments.models import Segment, SegmentMember
from crm_segments.profiles.queries import filtered_profile_ids_select
from crm_segments.records.entities import check_entity_type, entity_model
from crm_segments.records.profiles import profile_filter
from crm_segments.records.queries import filtered_record_ids_select, validate_record_filter

MAX_IDS = 100_000


@dataclass(frozen=True)
class Selection:
    entity_type: str
    kind: str  # ids, filter, segment, csv
    ids: Select[Any]  # one column of distinct entity ids
    description: str
    params: dict[str, Any] = field(default_factory=dict)


def clean_ids(values: object, *, field: str = "ids") -> list[int]:
    """A non-empty list of positive whole numbers, in order, without duplicates."""
    if not isinstance(values, list | tuple) or not values:
        raise ValidationFailed([FieldError(field, "give a non-empty list of ids")])
    if len(values) > MAX_IDS:
        raise ValidationFailed([FieldError(field, f"at most {MAX_IDS:,} ids at once; use a filter")])
    bad = [i for i, v in enumerate(values) if isinstance(v, bool) or not isinstance(v, int) or v < 1]
    if bad:
        raise ValidationFailed([FieldError(f"{field}[{bad[0]}]", "must be a positive whole number")])
    return list(dict.fromkeys(int(v) for v in values))


def by_ids(*, session: Session, entity_type: str, ids: object, field: str = "ids",
           kind: str = "ids", description: str | None = None) -> Selection:
    """Explicit entities; every id must exist (else nothing is done and the missing ones are named)."""
    check_entity_type(entity_type)
    wanted = clean_ids(ids, field=field)
    model = entity_model(entity_type)
    values = id_values(session, wanted)
    missing = list(session.scalars(
        select(values.c.id).where(~select(model.id).where(model.id == values.c.id).exists()).limit(11)
    ))
    if missing:
        shown = ", ".join(str(i) for i in missing[:10]) + (" and more" if len(missing) > 10 else "")
        raise ValidationFailed([FieldError(field, f"no {entity_type} with id {shown}")])
    return Selection(
        entity_type, kind, select(id_values(session, wanted).c.id),
        description or f"{len(wanted):,} selected {entity_type}{'s' if len(wanted) != 1 else ''}",
        {"count": len(wanted)},
    )


def by_filter(*, q: str | None = None, region: str | None = None, lifecycle: str | None = None,
              tag: str | None = None, segment: str | int | None = None,
              owner: str | int | None = None) -> Selection:
    """Every profile the profiles list shows for this filter (all pages)."""
    ids = filtered_profile_ids_select(profile_filter(q=q, region=region, lifecycle=lifecycle, tag=tag,
                                                     segment=segment, owner=owner))
    params = {k: v for k, v in (("q", (q or "").strip()), ("region", region), ("lifecycle", lifecycle),
                                ("tag", (tag or "").strip()), ("segment", segment), ("owner", owner)) if v}
    parts = [f"{k} {v!r}" for k, v in params.items()]
    description = "Profiles matching " + ", ".join(parts) if parts else "All profiles"
    return Selection("profile", "filter", ids, description, params)


def by_record_filter(entity_type: str, *, q: str | None = None, status: str | None = None,
                     date_from: object = None, date_to: object = None, amount_min: object = None,
                     amount_max: object = None, tag: str | None = None, prefix: str = "") -> Selection:
    """Every quote, job or opportunity its record list shows for this filter (all pages).

    ``status`` is the stage for opportunities; errors name ``prefix`` + the field.
    """
    record_filter = validate_record_filter(
        entity_type, q=q, status=status, date_from=date_from, date_to=date_to, amount_min=amount_min,
        amount_max=amount_max, tag=tag, prefix=prefix)
    return Selection(entity_type, "filter", filtered_record_ids_select(record_filter),
                     record_filter.description(), record_filter.params())


def by_segment(*, session: Session, segment_id: object, field: str = "segment_id") -> Selection:
    """The current members of a segment."""
    if isinstance(segment_id, bool) or not isinstance(segment_id, int):
        raise ValidationFailed([FieldError(field, "must be a segment id (a whole number)")])
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(f"{field}: no segment with id {segment_id}")
    ids = select(SegmentMember.profile_id).where(SegmentMember.segment_id == segment.id)
    return Selection("profile", "segment", ids, f"Members of segment {segment.name!r}",
                     {"segment_id": segment.id})


def count(*, session: Session, selection: Selection) -> int:
    return int(session.scalar(select(func.count()).select_from(selection.ids.subquery())) or 0)


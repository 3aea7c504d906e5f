"""Everything a record's page shows: the record, its profile, its lines with their products, the
records linked to it (the quote a job came from, the jobs made from a quote) and its tags."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import NotFound
from crm_segments.models import Job, JobLine, Product, Profile, Quote, QuoteLine
from crm_segments.records.entities import entity_tags
from crm_segments.records.queries import RecordKind, record_kind

LINKED_SHOWN = 20


@dataclass(frozen=True)
class LineView:
    line: QuoteLine | JobLine
    product: Product | None


@dataclass(frozen=True)
class RecordDetail:
    kind: RecordKind
    record: Any
    profile: Profile
    taggings: Sequence[Any]  # each with its ``tag``, by tag name
    lines: Sequence[LineView] = ()
    lines_total: Decimal | None = None  # the sum of the lines' amounts (None without lines)
    quote: Quote | None = None  # the quote a job was made from
    jobs: Sequence[Job] = field(default_factory=list)  # the jobs made from a quote

    @property
    def label(self) -> str:
        return self.kind.display_label(self.record)


def _lines(session: Session, line_model: Any, parent: Any, parent_id: int) -> list[LineView]:
    query = (select(line_model, Product).outerjoin(Product, Product.id == line_model.product_id)
             .where(parent == parent_id).order_by(line_model.id))
    return [LineView(line, product) for line, product in session.execute(query)]


def record_detail(*, session: Session, entity_type: str, record_id: int) -> RecordDetail:
    """One quote, job or opportunity with what its page shows; NotFound names it when missing."""
    kind = record_kind(entity_type)
    record = session.get(kind.model, record_id)
    if record is None:
        raise NotFound(f"{entity_type}: no {entity_type} with id {record_id}")
    profile = session.get(Profile, record.profile_id)
    assert profile is not None  # records are deleted with their profile
    taggings = entity_tags(session=session, entity_type=entity_type, entity_id=record_id)
    extra: dict[str, Any] = {}
    if entity_type == "quote":
        extra["lines"] = _lines(session, QuoteLine, QuoteLine.quote_id, record_id)
        extra["jobs"] = list(session.scalars(select(Job).where(Job.quote_id == record_id)
                                             .order_by(Job.id).limit(LINKED_SHOWN)))
    elif entity_type == "job":
        extra["lines"] = _lines(session, JobLine, JobLine.job_id, record_id)
        extra["quote"] = session.get(Quote, record.quote_id) if record.quote_id else None
    if extra.get("lines"):
        extra["lines_total"] = sum((view.line.amount for view in extra["lines"]), Decimal("0"))
    return RecordDetail(kind=kind, record=record, profile=profile, taggings=taggings, **extra)

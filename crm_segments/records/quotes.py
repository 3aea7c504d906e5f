"""Quotes and jobs (both with line items) as record types."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import selectinload

from crm_segments.models import Job, JobLine, Quote, QuoteLine
from crm_segments.schemas import (
    JobCreate,
    JobFilters,
    JobOut,
    JobUpdate,
    QuoteCreate,
    QuoteFilters,
    QuoteOut,
    QuoteUpdate,
)

from .derive import complete_lines, stamp_status
from .kind import Children, Kind, WriteContext
from .references import PRODUCT, PROFILE, QUOTE

QUOTE_STAMPS = {"sent": "sent_at", "accepted": "decided_at", "declined": "decided_at"}
JOB_STAMPS = {"in_progress": "started_at", "completed": "finished_at"}


def _derive_quote(values: dict[str, Any], existing: Any, ctx: WriteContext) -> None:
    complete_lines(values, "total")
    stamp_status(values, existing, ctx, "status", QUOTE_STAMPS)


def _derive_job(values: dict[str, Any], existing: Any, ctx: WriteContext) -> None:
    complete_lines(values, "amount")
    stamp_status(values, existing, ctx, "status", JOB_STAMPS)


QUOTES = Kind(
    name="quotes", label="quote", model=Quote,
    create_schema=QuoteCreate, update_schema=QuoteUpdate, out_schema=QuoteOut,
    filter_schema=QuoteFilters, unique=("external_id", "number"), references=(PROFILE,),
    children=Children("lines", QuoteLine, (PRODUCT,)), derive=_derive_quote,
    load=(selectinload(Quote.lines),),
)

JOBS = Kind(
    name="jobs", label="job", model=Job,
    create_schema=JobCreate, update_schema=JobUpdate, out_schema=JobOut,
    filter_schema=JobFilters, references=(PROFILE, QUOTE),
    children=Children("lines", JobLine, (PRODUCT,)), derive=_derive_job,
    load=(selectinload(Job.lines),),
)

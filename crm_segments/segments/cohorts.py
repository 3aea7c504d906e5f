"""Cohorts: customers grouped by the month of their first purchase (or first quote), and how many
of each cohort are still active in each later month. Two aggregate queries; only the table comes back.

A purchase is a completed job (its finish date). Active in a month means, for purchase cohorts, a
completed job in that month; for quote cohorts, a quote sent or a job completed in that month.
Months are calendar months in UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Integer, and_, cast, extract, func, literal_column, select, union
from sqlalchemy.orm import Session

from crm_segments.models import Job, Quote

Basis = Literal["purchase", "quote"]
BASES: tuple[Basis, ...] = ("purchase", "quote")


@dataclass(frozen=True)
class CohortRow:
    month: str  # "YYYY-MM" of the first purchase / quote
    size: int
    active: list[int]  # active[k]: members active k months after the cohort's month (k = 0 is itself)


def _month_index(column: Any, dialect: str) -> Any:
    """Months since year 0 of a UTC timestamp: year * 12 + month - 1."""
    if dialect == "postgresql":
        utc = column.op("AT TIME ZONE")(literal_column("'UTC'"))
        return cast(extract("year", utc) * 12 + extract("month", utc) - 1, Integer)
    return (cast(func.strftime("%Y", column), Integer) * 12
            + cast(func.strftime("%m", column), Integer) - 1)


def _label(index: int) -> str:
    year, month = divmod(index, 12)
    return f"{year:04d}-{month + 1:02d}"


def cohorts(session: Session, *, now: dt.datetime, basis: Basis = "purchase",
            months: int = 12) -> list[CohortRow]:
    """The cohorts of the last ``months`` months (oldest first), each with its activity up to now."""
    if basis not in BASES:
        raise ValueError(f"basis must be one of {', '.join(BASES)}")
    dialect = session.get_bind().dialect.name
    current = now.year * 12 + now.month - 1
    first_month = current - months + 1

    jobs = (select(Job.profile_id.label("profile_id"), _month_index(Job.finished_at, dialect).label("m"))
            .where(Job.status == "completed", Job.finished_at.is_not(None)))
    if basis == "purchase":
        starts = jobs
        activity = jobs
    else:
        sent = _month_index(Quote.sent_at, dialect).label("m")
        quotes = select(Quote.profile_id.label("profile_id"), sent).where(Quote.sent_at.is_not(None))
        starts = quotes
        activity = union(quotes, jobs)  # type: ignore[assignment]
    start = starts.subquery("starts")
    first = (select(start.c.profile_id, func.min(start.c.m).label("cohort"))
             .group_by(start.c.profile_id).subquery("first"))
    act = activity.subquery("activity")
    in_range = and_(first.c.cohort >= first_month, first.c.cohort <= current)

    sizes: dict[int, int] = dict(session.execute(select(first.c.cohort, func.count()).where(in_range)
                                 .group_by(first.c.cohort)).all())
    offset = (act.c.m - first.c.cohort).label("offset")
    counts = session.execute(
        select(first.c.cohort, offset, func.count(func.distinct(first.c.profile_id)))
        .join(act, act.c.profile_id == first.c.profile_id)
        .where(in_range, act.c.m >= first.c.cohort, act.c.m <= current)
        .group_by(first.c.cohort, offset)).all()
    table: dict[int, list[int]] = {m: [0] * (current - m + 1) for m in sizes}
    for cohort, k, count in counts:
        table[int(cohort)][int(k)] = int(count)
    return [CohortRow(_label(m), int(sizes[m]), table[m]) for m in sorted(sizes)]

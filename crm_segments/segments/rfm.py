"""RFM scores: recency, frequency and monetary quintiles (1-5) from completed jobs, in set-based SQL.

Scores are rank-based quintiles, ``1 + 5 * (rank - 1) // scored_profiles``: the top fifth scores 5.
Unlike NTILE(5), equal values always get equal scores (NTILE splits ties across buckets by an
arbitrary order, so two customers with the same history could differ). Recency ranks the last
purchase (unknown dates rank oldest), frequency the number of completed jobs, monetary their total
in whole cents so both backends rank the same. Profiles without completed jobs get no row.

The scores are written with one INSERT ... SELECT ... ON CONFLICT DO UPDATE and one DELETE of
profiles that no longer have purchases (the first computation, into an empty table, is a plain
INSERT ... SELECT). Upserting rather than deleting everything and inserting
again matters at scale: every inserted row checks its profile foreign key (a row lock on the
profile), and rewriting a row costs far more than computing its scores, so rows whose values did
not change are left alone (their ``computed_at`` is when their values were last computed anew).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, delete, exists, func, insert, literal, or_, select, text, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm_segments.models import Job, RfmScore

COMPLETED = "completed"  # a completed job is a purchase
_COLUMNS = ("profile_id", "recency", "frequency", "monetary", "last_purchase_at", "purchase_count",
            "total_spent", "computed_at")


def refresh_rfm_scores(session: Session, *, now: dt.datetime) -> int:
    """Recompute every profile's scores; returns how many profiles are scored. The caller commits."""
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"RFM scores are computed on PostgreSQL and SQLite, not {dialect}")
    if dialect == "postgresql":
        # Three sorts of every buyer: keep them in memory (this transaction only).
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    if session.scalar(select(exists().select_from(RfmScore))) is False:
        # The first computation: a plain insert (no conflict to look for row by row).
        session.execute(insert(RfmScore).from_select(list(_COLUMNS), _scores(now)))
        return session.scalar(select(func.count()).select_from(RfmScore)) or 0
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(RfmScore)
    upsert = statement.from_select(list(_COLUMNS), _scores(now))
    values = [name for name in _COLUMNS if name not in ("profile_id", "computed_at")]
    changed = or_(*(getattr(RfmScore, name).is_distinct_from(upsert.excluded[name]) for name in values))
    session.execute(upsert.on_conflict_do_update(
        index_elements=[RfmScore.profile_id],
        set_={name: upsert.excluded[name] for name in (*values, "computed_at")},
        where=changed,  # most scores stay the same between refreshes: leave those rows alone
    ))
    bought = exists().where(Job.profile_id == RfmScore.profile_id, Job.status == COMPLETED)
    session.execute(delete(RfmScore).where(~bought))
    return session.scalar(select(func.count()).select_from(RfmScore)) or 0


def _scores(now: dt.datetime) -> Any:
    purchases = (
        select(
            Job.profile_id.label("profile_id"),
            func.max(Job.finished_at).label("last_at"),
            func.count().label("jobs"),
            func.sum(func.round(Job.amount * 100)).label("cents"),
        )
        .where(Job.status == COMPLETED)
        .group_by(Job.profile_id)
        .subquery()
    )
    scored = func.count().over()

    def quintile(order: Any) -> Any:
        return 1 + (func.rank().over(order_by=order) - 1) * 5 // scored

    return select(
        purchases.c.profile_id,
        # Unknown dates rank oldest; a CASE instead of NULLS FIRST keeps older SQLite working.
        quintile((case((purchases.c.last_at.is_(None), 0), else_=1), purchases.c.last_at)),
        quintile(purchases.c.jobs),
        quintile(purchases.c.cents),
        purchases.c.last_at,
        purchases.c.jobs,
        purchases.c.cents / 100,
        literal(now, RfmScore.__table__.c.computed_at.type),
    ).where(true()).order_by(purchases.c.profile_id)
    # SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT. Rows are written in profile-id
    # order: each one's foreign-key lookup (and the upsert's index probe) then walks the profiles
    # front to back instead of in score order, all over a table larger than the buffer cache.

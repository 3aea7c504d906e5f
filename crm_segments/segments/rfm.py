"""RFM scores: recency, frequency and monetary quintiles (1-5) from completed jobs, in set-based SQL.

Scores are rank-based quintiles, ``1 + 5 * (rank - 1) // scored_profiles``: the top fifth scores 5.
Unlike NTILE(5), equal values always get equal scores (NTILE splits ties across buckets by an
arbitrary order, so two customers with the same history could differ). Recency ranks the last
purchase (unknown dates rank oldest), frequency the number of completed jobs, monetary their total
in whole cents so both backends rank the same. Profiles without completed jobs get no row.

Only rows whose values changed are written (their ``computed_at`` is when their values were last
computed anew): rewriting a row costs far more than computing its scores, and every inserted row
checks its profile foreign key (a row lock on the profile). The first computation, into an empty
table, is a plain INSERT ... SELECT (on PostgreSQL before the values' indexes are built, when the
table can be locked at once: rfm_first_fill.py). On PostgreSQL the scores are computed into a
temporary table and the stored ones then updated where they differ, the new ones inserted and the
gone ones deleted: an INSERT ... ON CONFLICT DO UPDATE ... WHERE changed locks every conflicting
row, changed or not (a write to each of the 410,000 rows' pages at a million profiles, for a
handful of changed scores).
On SQLite, which locks the database rather than rows, one upsert and one DELETE do the same.

A scheduled refresh passes the profiles logged since the scores were computed: on PostgreSQL only
their purchases are aggregated anew, the others' are read back from their rows, and the scores follow
from each score's quintile cut-off values (``_rescore``, rfm_cutoffs.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    case,
    column,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    table,
    text,
    true,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from crm_segments.kernel.pg_settings import local_settings
from crm_segments.kernel.staged_ids import emptied, id_table
from crm_segments.models import Job, Profile, RfmScore

from . import rfm_anchors, rfm_cutoffs, rfm_first_fill

COMPLETED = "completed"  # a completed job is a purchase
SOURCES = ("crm_jobs",)  # the logged tables whose writes can change a score
_COLUMNS = ("profile_id", "recency", "frequency", "monetary", "last_purchase_at", "purchase_count",
            "total_spent", "computed_at")


def refresh_rfm_scores(session: Session, *, now: dt.datetime, logged: Select[Any] | None = None) -> int:
    """Recompute every profile's scores; returns how many profiles are scored. The caller commits.

    ``logged``: a select of the ids of every profile whose purchases may have changed since the
    stored scores were computed (NULL: anyone's). On PostgreSQL only their purchases are then
    aggregated anew (``_rescore``); the result is the same."""
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"RFM scores are computed on PostgreSQL and SQLite, not {dialect}")
    if dialect == "postgresql":
        # Three sorts of every buyer: keep them in memory (this transaction only).
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    if session.scalar(select(exists().select_from(RfmScore))) is False:
        # The first computation: a plain insert (no conflict to look for row by row).
        fill = insert(RfmScore).from_select(list(_COLUMNS), _scores(now))
        if dialect == "postgresql":
            rfm_first_fill.insert_then_index(session, fill)
        else:
            session.execute(fill)
        return _counted(session, dialect)
    if dialect == "postgresql":
        if logged is not None and not _anyone(session, logged):
            return _rescore(session, logged, now)
        _write_changed(session, now)
        return _counted(session, dialect)
    statement = sqlite.insert(RfmScore)
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


def purchases_changed(session: Session, logged: Select[Any]) -> bool:
    """Whether the completed jobs of any profile in ``logged`` (a select of logged profile ids, NULL
    for "anyone may have changed") no longer give its stored scores' purchase values.

    The scores are a function of every buyer's (last purchase, count, total) alone: when none of the
    logged profiles' values moved and none of them was deleted, recomputing them would write nothing.
    This reads only the logged profiles' jobs (their profile index), not every completed job."""
    ids = logged.subquery()
    if session.scalar(select(exists().select_from(ids).where(ids.c[0].is_(None)))):
        return True
    logged_ids = select(ids.c[0]).where(ids.c[0].is_not(None))
    # A deleted buyer leaves the ranks with one fewer: its gone row cannot be compared.
    gone = select(exists().select_from(ids).where(
        ids.c[0].is_not(None), ~exists().where(Profile.id == ids.c[0])))
    if session.scalar(gone):
        return True
    bought = _purchases(Job.profile_id.in_(logged_ids))
    stored = (select(RfmScore.profile_id, RfmScore.last_purchase_at, RfmScore.purchase_count,
                     func.round(RfmScore.total_spent * 100).label("cents"))
              .where(RfmScore.profile_id.in_(logged_ids)).subquery())
    lost = select(exists().select_from(stored).where(
        ~exists().where(bought.c.profile_id == stored.c.profile_id)))
    # IS DISTINCT FROM: a job's amount or date may be NULL (a total of only unknown amounts is NULL).
    moved = or_(stored.c.profile_id.is_(None), stored.c.purchase_count != bought.c.jobs,
                stored.c.cents.is_distinct_from(bought.c.cents),
                stored.c.last_purchase_at.is_distinct_from(bought.c.last_at))
    differs = select(exists().select_from(
        bought.outerjoin(stored, stored.c.profile_id == bought.c.profile_id)).where(moved))
    return bool(session.scalar(lost) or session.scalar(differs))


_STAGE = table("crm_tmp_rfm_scores", *(column(name) for name in _COLUMNS))
_VALUES = ("recency", "frequency", "monetary", "last_purchase_at", "purchase_count", "total_spent")


_LOGGED = id_table("crm_tmp_rfm_logged", BigInteger)


def _anyone(session: Session, logged: Select[Any]) -> bool:
    ids = logged.subquery()
    return bool(session.scalar(select(exists().select_from(ids).where(ids.c[0].is_(None)))))


def _counted(session: Session, dialect: str) -> int:
    """How many buyers are scored; on PostgreSQL the quintiles' cut-off rows stored for the next
    rescoring (rfm_anchors.py)."""
    buyers = session.scalar(select(func.count()).select_from(RfmScore)) or 0
    if dialect == "postgresql":
        rfm_anchors.store_from_scores(session, buyers)
    return buyers


def _rescore(session: Session, logged: Select[Any], now: dt.datetime) -> int:
    """The scores after the ``logged`` profiles' purchases changed, with only those aggregated anew
    and only rows whose values or scores differ written; how many buyers are scored.

    A score is a quintile over every buyer, so anyone's may move; but every buyer's score follows
    from its own value and four cut-off values per score. Those are moved from the stored ones by
    the logged buyers' values that crossed them (rfm_anchors.py); when the stored ones no longer
    describe the scores (a buyer's profile deleted since), read from one ordered pass over every
    buyer's values (rfm_cutoffs.py)."""
    emptied(session, _LOGGED)
    session.execute(insert(_LOGGED).from_select(["profile_id"], logged))
    session.execute(text(f"ANALYZE {_LOGGED.name}"))  # temporary tables are never auto-analyzed
    # A few thousand profiles' jobs and scores, each read and written through their keys: the default
    # page costs plan a scan of every job and every score instead of the index probes (at 1M, the
    # purchases 0.29 s scanned against 0.12 s probed); random_page_cost as the level refresh sets it.
    with local_settings(session, random_page_cost="1.1"):
        rfm_cutoffs.prepare_purchases(session)
        buyers = rfm_anchors.rescore(session, now)
    if buyers is not None:
        return buyers
    buyers, cuts = rfm_cutoffs.cutoffs(session)
    rfm_cutoffs.write(session, cuts, now)
    rfm_anchors.store_from_scores(session, buyers)
    return buyers


def _write_changed(session: Session, now: dt.datetime) -> None:
    _stage(session, _scores(now))
    session.execute(text("DELETE FROM crm_rfm_scores s WHERE NOT EXISTS "
                         "(SELECT FROM crm_tmp_rfm_scores t WHERE t.profile_id = s.profile_id)"))


def _stage(session: Session, scores: Select[Any]) -> None:
    """Write ``scores`` (rows in _COLUMNS order) where they differ from the stored ones, through a
    temporary table: update the changed rows, insert the new ones."""
    session.execute(text("CREATE TEMPORARY TABLE IF NOT EXISTS crm_tmp_rfm_scores "
                         "(LIKE crm_rfm_scores, PRIMARY KEY (profile_id)) ON COMMIT DELETE ROWS"))
    session.execute(text("TRUNCATE crm_tmp_rfm_scores"))
    session.execute(insert(_STAGE).from_select(list(_COLUMNS), scores))
    session.execute(text("ANALYZE crm_tmp_rfm_scores"))
    assigned = ", ".join(f"{name} = t.{name}" for name in (*_VALUES, "computed_at"))
    stored = ", ".join(f"s.{name}" for name in _VALUES)
    computed = ", ".join(f"t.{name}" for name in _VALUES)
    session.execute(text(f"UPDATE crm_rfm_scores s SET {assigned} FROM crm_tmp_rfm_scores t "
                         f"WHERE t.profile_id = s.profile_id AND ({stored}) IS DISTINCT FROM ({computed})"))
    session.execute(text("INSERT INTO crm_rfm_scores SELECT t.* FROM crm_tmp_rfm_scores t "
                         "WHERE NOT EXISTS (SELECT FROM crm_rfm_scores s WHERE s.profile_id = t.profile_id) "
                         "ORDER BY t.profile_id"))


def _purchases(*conditions: Any) -> Any:
    """Each buyer's (last purchase, number of purchases, total in whole cents), as a subquery."""
    return (
        select(
            Job.profile_id.label("profile_id"),
            func.max(Job.finished_at).label("last_at"),
            func.count().label("jobs"),
            func.sum(func.round(Job.amount * 100)).label("cents"),
        )
        .where(Job.status == COMPLETED, *conditions)
        .group_by(Job.profile_id)
        .subquery()
    )


def _scores(now: dt.datetime) -> Any:
    # Rows are written in profile-id order: each one's foreign-key lookup (and the upsert's index
    # probe) then walks the profiles front to back instead of in score order, all over a table
    # larger than the buffer cache.
    purchases = _purchases()
    return _ranked(purchases, now).order_by(purchases.c.profile_id)


def _ranked(purchases: Any, now: dt.datetime) -> Select[Any]:
    """The scores of every buyer in ``purchases`` (profile_id, last_at, jobs, cents), in _COLUMNS order."""
    scored = func.count().over()

    def quintile(order: Any) -> Any:
        return 1 + (func.rank().over(order_by=order) - 1) * 5 // scored

    values = (
        purchases.c.profile_id,
        # Unknown dates rank oldest; a CASE instead of NULLS FIRST keeps older SQLite working.
        quintile((case((purchases.c.last_at.is_(None), 0), else_=1), purchases.c.last_at)),
        quintile(purchases.c.jobs),
        quintile(purchases.c.cents),
        purchases.c.last_at,
        purchases.c.jobs,
        purchases.c.cents / 100,
        literal(now, RfmScore.__table__.c.computed_at.type),
    )
    # SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT.
    return select(*(value.label(name) for value, name in zip(values, _COLUMNS, strict=True))).where(true())

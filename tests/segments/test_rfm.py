"""RFM scores: quintiles from completed jobs, equal histories score equally, same on both backends."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from crm_segments.models import Job, Profile, RefreshMark, RfmCutoff, RfmScore
from crm_segments.segments import rfm_anchors, rfm_cutoffs
from crm_segments.segments.incremental import RFM_MARK
from crm_segments.segments.refresh import refresh_rfm
from crm_segments.segments.rfm import refresh_rfm_scores
from tests.databases import ON_POSTGRESQL
from tests.factories import JobFactory, ProfileFactory

NOW = dt.datetime(2024, 3, 15, tzinfo=dt.UTC)


def test_scores_are_quintiles_of_completed_jobs(session: Session) -> None:
    people = [ProfileFactory() for _ in range(10)]
    # The n-th person: n completed jobs of n * 10.10, the last one 11 - n days ago.
    for rank, profile in enumerate(people, start=1):
        for _ in range(rank):
            JobFactory(profile=profile, status="completed", amount=Decimal("10.10") * rank,
                       finished_at=NOW - dt.timedelta(days=11 - rank))
    twin = ProfileFactory()  # the same history as people[9]
    for _ in range(10):
        JobFactory(profile=twin, status="completed", amount=Decimal("101.00"),
                   finished_at=NOW - dt.timedelta(days=1))
    idle = ProfileFactory()
    JobFactory(profile=idle, status="cancelled", amount=Decimal("999.00"))
    session.add(RfmScore(profile_id=idle.id, recency=5, frequency=5, monetary=5, computed_at=NOW))
    session.flush()

    assert refresh_rfm_scores(session, now=NOW) == 11
    session.expire_all()
    scores = {s.profile_id: s for s in session.scalars(select(RfmScore))}
    assert idle.id not in scores  # no purchases, no row (the stale one is gone)
    # 11 scored: score = 1 + 5 * (rank - 1) // 11; the twins share rank 10
    assert [scores[p.id].frequency for p in people] == [1, 1, 1, 2, 2, 3, 3, 4, 4, 5]
    assert [scores[p.id].recency for p in people] == [1, 1, 1, 2, 2, 3, 3, 4, 4, 5]
    assert [scores[p.id].monetary for p in people] == [1, 1, 1, 2, 2, 3, 3, 4, 4, 5]
    top, twin_score = scores[people[9].id], scores[twin.id]
    assert (twin_score.recency, twin_score.frequency, twin_score.monetary) == (5, 5, 5) == (
        top.recency, top.frequency, top.monetary)
    assert twin_score.purchase_count == 10 and twin_score.total_spent == Decimal("1010.00")
    assert twin_score.last_purchase_at == NOW - dt.timedelta(days=1)
    assert twin_score.computed_at == NOW


def test_unknown_purchase_dates_rank_oldest(session: Session) -> None:
    dated, undated = ProfileFactory(), ProfileFactory()
    JobFactory(profile=dated, status="completed", finished_at=NOW - dt.timedelta(days=400))
    JobFactory(profile=undated, status="completed", finished_at=None)
    refresh_rfm_scores(session, now=NOW)
    session.expire_all()
    recency = {s.profile_id: s.recency for s in session.scalars(select(RfmScore))}
    assert recency == {undated.id: 1, dated.id: 3}  # 1 + 5 * (rank - 1) // 2


def test_a_second_refresh_updates_and_removes_scores(session: Session) -> None:
    loyal, lapsed = ProfileFactory(), ProfileFactory()
    JobFactory(profile=loyal, status="completed", amount=Decimal("10.00"), finished_at=NOW)
    lapsed_job = JobFactory(profile=lapsed, status="completed", amount=Decimal("500.00"),
                            finished_at=NOW - dt.timedelta(days=300))
    refresh_rfm_scores(session, now=NOW)
    later = NOW + dt.timedelta(days=1)
    lapsed_job.status = "cancelled"  # refunded: no purchase any more
    JobFactory(profile=loyal, status="completed", amount=Decimal("990.00"), finished_at=later)
    session.flush()

    assert refresh_rfm_scores(session, now=later) == 1
    session.expire_all()
    (score,) = session.scalars(select(RfmScore))
    assert (score.profile_id, score.purchase_count, score.total_spent) == (loyal.id, 2, Decimal("1000.00"))
    assert score.last_purchase_at == later and score.computed_at == later


def test_a_refresh_leaves_unchanged_scores_alone(session: Session) -> None:
    steady, newcomer = ProfileFactory(), ProfileFactory()
    JobFactory(profile=steady, status="completed", amount=Decimal("50.00"), finished_at=NOW)
    refresh_rfm_scores(session, now=NOW)
    JobFactory(profile=newcomer, status="completed", amount=Decimal("50.00"), finished_at=NOW)
    session.flush()
    later = NOW + dt.timedelta(days=1)

    assert refresh_rfm_scores(session, now=later) == 2
    session.expire_all()
    computed = {pid: at for pid, at in session.execute(select(RfmScore.profile_id, RfmScore.computed_at))}
    assert computed == {steady.id: NOW, newcomer.id: later}  # ties: the same scores as before
    if session.get_bind().dialect.name == "postgresql":
        # Not even locked (an upsert's ON CONFLICT locks every row it meets, changed or not).
        xmax = session.scalar(text("SELECT xmax::text FROM crm_rfm_scores WHERE profile_id = :id"),
                              {"id": steady.id})
        assert xmax == "0"


# --- a scheduled refresh recomputes the scores only when a logged profile's purchases changed ------

def _scored(session: Session) -> dict[int, tuple[int, int, int, dt.datetime]]:
    session.expire_all()
    return {s.profile_id: (s.recency, s.frequency, s.monetary, s.computed_at)
            for s in session.scalars(select(RfmScore))}


def _buyers(session: Session) -> list[Any]:
    people = [ProfileFactory(region="Texas") for _ in range(3)]
    for n, person in enumerate(people, start=1):
        JobFactory(profile=person, status="completed", amount=Decimal(n * 10), finished_at=NOW)
    session.flush()
    assert refresh_rfm(session, now=NOW) is True
    return people


def test_a_profile_change_leaves_the_scores_and_reads_the_log_further(session: Session) -> None:
    people = _buyers(session)
    before, mark_before = _scored(session), session.get(RefreshMark, RFM_MARK)
    assert mark_before is not None
    position_before = mark_before.position
    people[0].region = "California"  # logged, but no purchase of anyone moved
    JobFactory(profile=people[1], status="scheduled", amount=Decimal("99.00"))  # not a purchase
    session.flush()

    assert refresh_rfm(session, now=NOW + dt.timedelta(hours=1), only_if_changed=True) is False
    assert _scored(session) == before
    after = session.get(RefreshMark, RFM_MARK)
    assert after is not None and after.at == NOW + dt.timedelta(hours=1) and after.position >= position_before


def test_a_changed_purchase_recomputes_the_scores(session: Session) -> None:
    people = _buyers(session)
    later = NOW + dt.timedelta(hours=1)
    JobFactory(profile=people[0], status="completed", amount=Decimal("500.00"), finished_at=later)
    session.flush()

    assert refresh_rfm(session, now=later, only_if_changed=True) is True
    scored = _scored(session)
    assert scored[people[0].id][:3] == (4, 4, 4)  # the top of three: 1 + 5 * (3 - 1) // 3
    assert scored[people[0].id][3] == later


def test_a_cancelled_purchase_recomputes_the_scores(session: Session) -> None:
    people = _buyers(session)
    session.execute(update(Job).where(Job.profile_id == people[2].id).values(status="cancelled"))
    session.flush()

    assert refresh_rfm(session, now=NOW + dt.timedelta(hours=1), only_if_changed=True) is True
    assert set(_scored(session)) == {people[0].id, people[1].id}


def test_a_deleted_buyer_recomputes_the_others_ranks(session: Session) -> None:
    people = _buyers(session)
    session.execute(delete(Profile).where(Profile.id == people[2].id))  # its score row goes with it
    session.flush()

    assert refresh_rfm(session, now=NOW + dt.timedelta(hours=1), only_if_changed=True) is True
    scored = _scored(session)
    assert set(scored) == {people[0].id, people[1].id}
    assert scored[people[1].id][2] == 3  # 1 + 5 * (2 - 1) // 2 of two buyers, not of three


def test_a_scheduled_refresh_rescores_as_a_full_recompute_would(session: Session) -> None:
    # Ten buyers of 10..100; then one buys more, one cancels and a new one buys: every quintile
    # boundary moves (11 -> 10 -> 11 buyers), so buyers whose purchases did not change move too.
    people = [ProfileFactory() for _ in range(11)]
    jobs = [JobFactory(profile=person, status="completed", amount=Decimal(10 * n),
                       finished_at=NOW - dt.timedelta(days=n))
            for n, person in enumerate(people[:10], start=1)]
    session.flush()
    assert refresh_rfm(session, now=NOW) is True
    before = _scored(session)
    later = NOW + dt.timedelta(hours=1)
    JobFactory(profile=people[0], status="completed", amount=Decimal("990.00"), finished_at=later)
    jobs[4].status = "cancelled"
    JobFactory(profile=people[10], status="completed", amount=Decimal("55.00"), finished_at=later)
    session.flush()

    assert refresh_rfm(session, now=later, only_if_changed=True) is True
    rescored = _scored(session)
    with session.begin_nested() as recompute:
        refresh_rfm_scores(session, now=later)
        assert {pid: row[:3] for pid, row in _scored(session).items()} == {
            pid: row[:3] for pid, row in rescored.items()}
        recompute.rollback()
    assert people[4].id not in rescored and people[10].id in rescored
    untouched = {p.id for p in people} - {people[0].id, people[4].id, people[10].id}
    moved = {pid for pid in untouched if rescored[pid][:3] != before[pid][:3]}
    assert moved, "no unchanged buyer's quintile moved: the case does not test the re-ranking"
    assert all(rescored[pid][3] == (later if pid in moved else NOW) for pid in untouched)


def _score_indexes(session: Session) -> dict[str, str]:
    return dict(session.execute(text("SELECT indexname, indexdef FROM pg_indexes "
                                     "WHERE tablename = 'crm_rfm_scores'")).all())


def _index_ids(session: Session) -> dict[str, int]:
    return dict(session.execute(text("SELECT indexrelid::regclass::text, indexrelid::bigint FROM pg_index "
                                     "WHERE indrelid = 'crm_rfm_scores'::regclass")).all())


def _ten_buyers() -> None:
    """The n-th buyer: n purchases of 10.00, the last 11 - n days ago (every score ranks n)."""
    for n in range(1, 11):
        profile = ProfileFactory()
        for _ in range(n):
            JobFactory(profile=profile, status="completed", amount=Decimal("10.00"),
                       finished_at=NOW - dt.timedelta(days=11 - n))


@ON_POSTGRESQL  # the values' indexes are PostgreSQL's
def test_the_first_computation_builds_the_values_indexes_back(session: Session, backend: str) -> None:
    _ten_buyers()
    session.flush()
    indexes, ids = _score_indexes(session), _index_ids(session)
    assert refresh_rfm_scores(session, now=NOW) == 10
    assert _score_indexes(session) == indexes
    rebuilt = {name for name, oid in _index_ids(session).items() if ids[name] != oid}
    assert rebuilt == {"ix_crm_rfm_scores_last_purchase_at", "ix_crm_rfm_scores_purchase_count",
                       "ix_crm_rfm_scores_total_spent"}
    assert {row[:3] for row in _scored(session).values()} == {(n, n, n) for n in range(1, 6)}
    # The index on total_spent is there to be walked, with the rows the insert wrote.
    session.execute(text("SET LOCAL enable_seqscan = off"))
    walked = session.execute(text("EXPLAIN SELECT total_spent FROM crm_rfm_scores "
                                  "ORDER BY total_spent, profile_id")).scalars().all()
    assert any("ix_crm_rfm_scores_total_spent" in line for line in walked)


@ON_POSTGRESQL
def test_the_first_computation_does_not_wait_for_a_reader_of_the_scores(session: Session, engine: Any,
                                                                        backend: str) -> None:
    _ten_buyers()
    session.flush()
    indexes, ids = _score_indexes(session), _index_ids(session)
    with engine.connect() as reader:
        reader.execute(text("LOCK TABLE crm_rfm_scores IN ACCESS SHARE MODE"))  # held until rollback
        # Waiting for the reader would fail here rather than hang the test.
        session.execute(text("SET LOCAL lock_timeout = '5s'"))
        assert refresh_rfm_scores(session, now=NOW) == 10
        reader.rollback()
    assert _score_indexes(session) == indexes
    assert _index_ids(session) == ids  # the plain insert: no index dropped
    assert {row[:3] for row in _scored(session).values()} == {(n, n, n) for n in range(1, 6)}


# --- a scheduled refresh's rescoring equals a full computation, on random histories ----------------

def _full_scores(session: Session, now: dt.datetime) -> dict[int, tuple[Any, ...]]:
    with session.begin_nested() as recompute:
        refresh_rfm_scores(session, now=now)
        rows = _rows(session)
        recompute.rollback()
    return rows


def _rows(session: Session) -> dict[int, tuple[Any, ...]]:
    session.expire_all()
    return {s.profile_id: (s.recency, s.frequency, s.monetary, s.last_purchase_at, s.purchase_count,
                           s.total_spent) for s in session.scalars(select(RfmScore))}


@pytest.mark.parametrize("seed", range(12))
def test_rescoring_random_changes_equals_a_full_computation(session: Session, seed: int,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Few distinct amounts, dates and counts: many ties at the quintile cut-offs, some unknown dates.
    rng = random.Random(seed)
    postgresql = session.get_bind().dialect.name == "postgresql"
    sorts = []  # each rescoring that sorted every buyer's values instead of moving the cut-offs
    full_sort = rfm_cutoffs.cutoffs
    monkeypatch.setattr(rfm_cutoffs, "cutoffs", lambda s: sorts.append(1) or full_sort(s))
    days = [None, 1, 2, 2, 5, 30]
    people = [ProfileFactory() for _ in range(rng.randint(8, 50))]
    jobs = [JobFactory(profile=person, status=rng.choice(["completed", "completed", "cancelled"]),
                       amount=Decimal(rng.choice([10, 20, 50])),
                       finished_at=None if (d := rng.choice(days)) is None else NOW - dt.timedelta(days=d))
            for person in people for _ in range(rng.randint(0, 3))]
    session.flush()
    refresh_rfm(session, now=NOW)
    rewritten_any = deleted = False
    for round_ in range(1, 7):
        later = NOW + dt.timedelta(hours=round_)
        before, values_before = _scored(session), _rows(session)
        sorts.clear()
        for _ in range(rng.randint(1, 6)):
            kind = rng.randrange(5 if round_ > 3 else 4)  # deletions last: they stay in the log
            if kind == 0 or not jobs:  # a purchase, maybe by someone new
                person = rng.choice(people) if rng.random() < 0.7 else ProfileFactory()
                people.append(person)
                jobs.append(JobFactory(profile=person, status="completed",
                                       amount=Decimal(rng.choice([10, 50])),
                                       finished_at=rng.choice([None, later])))
            elif kind == 1:
                rng.choice(jobs).status = rng.choice(["completed", "cancelled"])
            elif kind == 2:
                rng.choice(jobs).amount += Decimal(rng.choice([10, 40]))
            elif kind == 3:
                rng.choice(jobs).finished_at = rng.choice([None, later, NOW - dt.timedelta(days=30)])
            else:  # a buyer deleted: its score row goes with it
                gone = rng.choice(people).id
                people = [p for p in people if p.id != gone]
                jobs = [j for j in jobs if j.profile_id != gone]
                session.execute(delete(Profile).where(Profile.id == gone))
                session.expire_all()
                deleted = True
        session.flush()
        refresh_rfm(session, now=later, only_if_changed=True)
        stored = _rows(session)
        assert stored == _full_scores(session, later), (seed, round_)
        if postgresql:
            # The cut-offs moved from the stored ones unless a deleted profile took its score row
            # with it (the test's one transaction logs every round's changes at one position: a
            # deletion stays in the log read); either way the stored cut-off rows are those of the
            # scores now.
            assert len(sorts) == deleted, (seed, round_)
            assert _cutoff_rows(session) == _cutoff_rows_found(session), (seed, round_)
        for pid, (*_, computed_at) in _scored(session).items():
            # A row is rewritten only when its values or scores changed.
            unchanged = values_before.get(pid) == stored[pid]
            assert computed_at == (before[pid][3] if unchanged else later), (seed, round_, pid)
            rewritten_any |= not unchanged
    assert rewritten_any


def _cutoff_rows(session: Session) -> dict[tuple[str, int], tuple[Any, ...]]:
    session.expire_all()
    return {(c.score, c.quintile): (c.buyers, c.profile_id, c.last_purchase_at, c.purchase_count,
                                    c.total_spent) for c in session.scalars(select(RfmCutoff))}


def _cutoff_rows_found(session: Session) -> dict[tuple[str, int], tuple[Any, ...]]:
    with session.begin_nested() as found:
        rfm_anchors.store_from_scores(session, len(_rows(session)))
        rows = _cutoff_rows(session)
        found.rollback()
    return rows

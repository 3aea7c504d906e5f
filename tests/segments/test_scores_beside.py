"""On PostgreSQL a refresh recomputes the RFM scores on a connection of its own, beside the refresh of
the segments that do not read them; the segments that read them wait for the new scores
(refresh.refresh_many). Committed data: each session of the refresh takes a connection of its own."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from crm_segments.db import make_engine, make_session_factory
from crm_segments.models import Job, Profile, RfmCell, RfmCutoff, Segment, SegmentMember
from crm_segments.segments.compiler import compile_members
from crm_segments.segments.realtime import reevaluate_profiles
from crm_segments.segments.refresh import RefreshResult, refresh_many
from crm_segments.segments.rules import parse_rule
from tests.change_log import change_log_restored

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=1)
PEOPLE = 10
WAIT_FOR = 30  # seconds a test waits for the refresh before it fails


@dataclass(frozen=True)
class Committed:
    engine: Engine
    plain: int  # a segment on the region: it does not read the scores
    scored: int  # a segment on the frequency score
    people: list[int]  # the n-th has n completed jobs


@pytest.fixture
def committed(postgresql_url: str) -> Iterator[Committed]:
    """Ten buyers, both segments filled once, all committed; removed afterwards with the scores, their
    cut-offs and cells, the change log rows and the refresh marks, as the database was found."""
    # A lock wait of the refresh fails within its time instead of hanging the test.
    engine = make_engine(postgresql_url, connect_args={"options": f"-c lock_timeout={WAIT_FOR * 1000}"})
    tag = uuid.uuid4().hex[:8]
    with change_log_restored(engine):
        with make_session_factory(engine)() as session:
            people = [Profile(external_id=f"BESIDE-{tag}-{n}", region="California") for n in range(PEOPLE)]
            session.add_all(people)
            session.flush()
            for n, person in enumerate(people, start=1):
                session.add_all(Job(external_id=f"BESIDE-{tag}-{n}-{k}", profile_id=person.id,
                                    status="completed", amount=Decimal(100),
                                    finished_at=NOW - dt.timedelta(days=30 + n)) for k in range(n))
            plain = Segment(name=f"Beside {tag} Texas", kind="live",
                            rule={"field": "region", "op": "eq", "value": "Texas"})
            scored = Segment(name=f"Beside {tag} frequent", kind="live",
                             rule={"field": "rfm.frequency", "op": "gte", "value": 5})
            session.add_all([plain, scored])
            session.commit()
            found = Committed(engine, plain.id, scored.id, [p.id for p in people])
        try:
            refresh_many(make_session_factory(engine), [found.plain, found.scored], now=NOW, full=True)
            yield found
        finally:
            with engine.begin() as connection:
                connection.execute(delete(Segment).where(Segment.id.in_([found.plain, found.scored])))
                connection.execute(delete(Profile).where(Profile.id.in_(found.people)))
                connection.execute(delete(RfmCutoff))
                connection.execute(delete(RfmCell))
    engine.dispose()


def _change(committed: Committed) -> None:
    """The first person moves to Texas; the second buys 20 times more (the most frequent buyer now)."""
    with committed.engine.begin() as connection:
        connection.execute(text("UPDATE crm_profiles SET region = 'Texas' WHERE id = :id"),
                           {"id": committed.people[0]})
        connection.execute(text("""
            INSERT INTO crm_jobs (external_id, profile_id, status, amount, currency, title, finished_at,
                                  created_at, updated_at)
            SELECT 'BESIDE-more-' || n, :id, 'completed', 100, 'USD', '', :at, :at, :at
            FROM generate_series(1, 20) n"""), {"id": committed.people[1], "at": NOW})


def _members(engine: Engine, segment_id: int) -> set[int]:
    with engine.connect() as connection:
        return set(connection.scalars(select(SegmentMember.profile_id)
                                      .where(SegmentMember.segment_id == segment_id)))


def _rule_matches(engine: Engine, segment_id: int) -> set[int]:
    with make_session_factory(engine)() as session:
        rule = session.scalar(select(Segment.rule).where(Segment.id == segment_id))
        return set(session.scalars(compile_members(parse_rule(rule), now=LATER)))


def _version(engine: Engine, segment_id: int) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(Segment.version).where(Segment.id == segment_id)) or 0)


@contextmanager
def _refreshing_with_scores_locked(committed: Committed) -> Iterator[list[object]]:
    """A refresh of both segments running in a thread while this test holds a lock that keeps the
    scores from being written; yields what the refresh returned or raised, once it has ended. The lock
    is released and the refresh waited for on the way out."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.extend(refresh_many(make_session_factory(committed.engine),
                                        [committed.plain, committed.scored], now=LATER))
        except Exception as error:  # noqa: BLE001 - handed to the test
            outcome.append(error)

    with committed.engine.connect() as holder:
        holder.begin()
        holder.execute(text("LOCK TABLE crm_rfm_scores IN SHARE MODE"))
        thread = threading.Thread(target=run)
        thread.start()
        try:
            yield outcome
        finally:
            holder.rollback()
            thread.join(WAIT_FOR)
    assert not thread.is_alive(), f"the refresh still runs {WAIT_FOR} s after the lock was released"


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_FOR
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what} after {WAIT_FOR} s"
        time.sleep(0.05)


# The scores' statement waiting for a lock on their table, in this database.
_WAITING = ("FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'crm_rfm_scores' "
            "AND NOT l.granted "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())")


@pytest.mark.postgres
def test_the_other_segments_refresh_while_the_scores_wait(committed: Committed) -> None:
    _change(committed)
    engine = committed.engine
    plain_before, scored_before = _version(engine, committed.plain), _version(engine, committed.scored)
    assert committed.people[1] not in _members(engine, committed.scored)
    with _refreshing_with_scores_locked(committed) as outcome:
        # The segment that does not read the scores is refreshed and committed meanwhile ...
        _until(lambda: _version(engine, committed.plain) > plain_before, "the region segment")
        # ... and the one that reads them waits for them.
        with engine.connect() as admin:
            _until(lambda: admin.scalar(text(f"SELECT count(*) {_WAITING}")) == 1, "the scores' lock wait")
        assert _version(engine, committed.scored) == scored_before
        assert not outcome
    results = {r.segment_id: r for r in outcome if isinstance(r, RefreshResult)}
    assert len(results) == 2 and all(r.ok for r in results.values()), outcome
    plain = _members(engine, committed.plain)
    assert plain == _rule_matches(engine, committed.plain) == {committed.people[0]}
    # The segment read the new scores: the second person, 22 purchases now, is the most frequent.
    assert committed.people[1] in _members(engine, committed.scored)
    assert _members(engine, committed.scored) == _rule_matches(engine, committed.scored)
    assert results[committed.scored].entered >= 1


@pytest.mark.postgres
def test_a_failed_recomputation_of_the_scores_refreshes_no_segment_that_reads_them(
        committed: Committed) -> None:
    _change(committed)
    engine = committed.engine
    plain_before, scored_before = _version(engine, committed.plain), _version(engine, committed.scored)
    members_before = _members(engine, committed.scored)
    with _refreshing_with_scores_locked(committed) as outcome:
        _until(lambda: _version(engine, committed.plain) > plain_before, "the region segment")
        # The scores' statement waits for the lock: cancelled from here, it fails as a lock time-out would.
        with engine.connect() as admin:
            _until(lambda: admin.scalar(text(f"SELECT count(*) {_WAITING}")) == 1, "the scores' lock wait")
            admin.execute(text(f"SELECT pg_cancel_backend(l.pid) {_WAITING}"))
    [error] = outcome
    assert isinstance(error, OperationalError) and "canceling statement" in str(error)
    assert _version(engine, committed.scored) == scored_before
    assert _members(engine, committed.scored) == members_before
    assert _members(engine, committed.plain) == {committed.people[0]}


@pytest.mark.postgres
def test_refreshes_beside_near_real_time_writers_end_with_the_rules_answers(committed: Committed) -> None:
    """Scheduled refreshes (the scores' lane beside the other segments') while another connection
    changes profiles and purchases and re-evaluates them at once, as the product's writes do: no
    refresh fails or waits out a lock, and afterwards both memberships are their rules' answers."""
    engine, factory = committed.engine, make_session_factory(committed.engine)
    failures: list[BaseException] = []
    writing, refreshing = threading.Event(), threading.Event()

    def write() -> None:
        try:
            for n in range(40):
                person = committed.people[n % PEOPLE]
                with factory() as session:
                    session.execute(text("UPDATE crm_profiles SET region = CASE WHEN region = 'Texas' "
                                         "THEN 'California' ELSE 'Texas' END WHERE id = :id"), {"id": person})
                    session.execute(text("""
                        INSERT INTO crm_jobs (external_id, profile_id, status, amount, currency, title,
                                              finished_at, created_at, updated_at)
                        VALUES ('BESIDE-write-' || :n, :id, 'completed', 100, 'USD', '', :at, :at, :at)"""),
                                    {"n": n, "id": person, "at": NOW})
                    reevaluate_profiles(session, [person], now=LATER)
                    session.commit()
                writing.set()
                refreshing.wait(WAIT_FOR)  # the other writes overlap the refreshes
        except BaseException as error:  # noqa: BLE001 - handed to the test
            failures.append(error)
            writing.set()

    writer = threading.Thread(target=write)
    writer.start()
    writing.wait(WAIT_FOR)
    results = []
    while writer.is_alive():
        refreshing.set()
        results += refresh_many(factory, [committed.plain, committed.scored], now=LATER)
    writer.join()
    assert results  # at least one refresh ran while the profiles were being written
    assert not failures, failures
    results += refresh_many(factory, [committed.plain, committed.scored], now=LATER)
    assert results and all(r.ok for r in results), [r.error for r in results if not r.ok]
    for segment_id in (committed.plain, committed.scored):
        assert _members(engine, segment_id) == _rule_matches(engine, segment_id)
    again = refresh_many(factory, [committed.plain, committed.scored], now=LATER, full=True)
    assert [(r.entered, r.exited) for r in again] == [(0, 0), (0, 0)]

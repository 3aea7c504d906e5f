"""Refresh of a segment's materialized membership, and the scheduler's "refresh what is due".

``refresh_segment`` recomputes a segment in full; ``refresh_segment_incrementally`` re-evaluates only
the profiles that changed or crossed a time edge since its last refresh (incremental.py), or answers
None when the segment needs a full refresh. Both work inside the caller's transaction and change
nothing when they fail (their work runs in a SAVEPOINT). ``run_refresh`` and
``refresh_due_segments`` own their transactions: each segment is refreshed and committed on its
own, and a failure is recorded as the segment's ``last_error`` in a short transaction of its own.
On PostgreSQL the segments of one dependency level that can be refreshed incrementally are refreshed
together in one transaction, their rules and diffs in one statement (level_refresh.py); when that
fails, each is refreshed on its own as above.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import Select

from crm_segments.kernel.unit_of_work import each_in_own_transaction, error_message
from crm_segments.models import Segment, SegmentSizePoint

from . import incremental, level_refresh
from .compiler import compile_members
from .dependencies import dependency_levels, segment_refs
from .membership import Diff, apply_scoped_diff, count_members, lock_segment, recompute_members
from .query_errors import failure_message
from .query_segments import stage_query
from .rules import parse_rule
from .statistics import analyze_stale_tables

log = logging.getLogger(__name__)
REFRESHABLE = ("live", "query")
MAX_ERROR = 2000
REFRESH_WORK_MEM = "64MB"
NIGHTLY_FULL_HOUR = 3  # UTC: the first scheduled refresh from then on each day recomputes in full


class RefreshError(Exception):
    """A refresh failed; the segment's membership is unchanged."""


@dataclass(frozen=True)
class RefreshResult:
    segment_id: int
    name: str
    size: int = 0
    entered: int = 0
    exited: int = 0
    duration_ms: int = 0
    error: str | None = None
    full: bool = True  # recomputed in full, or only the changed profiles re-evaluated

    @property
    def ok(self) -> bool:
        return self.error is None


def matching_ids(session: Session, segment: Segment, *, now: dt.datetime) -> Select[Any]:
    """A select of the ids of the profiles that belong in ``segment`` now."""
    if segment.kind == "live":
        if not segment.rule:
            raise RefreshError("the segment has no rule")
        return compile_members(parse_rule(segment.rule), now=now)
    if segment.kind == "query":
        if not segment.query_sql:
            raise RefreshError("the segment has no query")
        return stage_query(session, segment.query_sql)
    raise RefreshError("a static list is changed by hand, not refreshed")


def refresh_segment(session: Session, segment: Segment, *, now: dt.datetime) -> RefreshResult:
    """Recompute ``segment``'s members, write entered / exited events and a size point.

    Raises RefreshError (membership unchanged) when the rule or query cannot be run.
    """
    started = time.perf_counter()
    try:
        session.flush()
        lock_segment(session, segment.id)
        session.refresh(segment)  # the counts another refresh committed while we waited for the lock
        position = incremental.log_position(session)  # changes from here on are read next time
        with session.begin_nested():
            # The first materialization fills the segment without entered events (membership.py).
            diff, size = recompute_members(session, segment.id, matching_ids(session, segment, now=now),
                                           now=now, version=segment.version + 1, source="refresh",
                                           record_events=segment.version > 0)
            elapsed = int((time.perf_counter() - started) * 1000)
            _record_success(session, segment, size=size, diff=diff, now=now, elapsed_ms=elapsed,
                            position=position, full=True)
    except RefreshError:
        raise
    except Exception as exc:  # any failure of the rule or the database: nothing was changed
        # A query segment's failure is described without the database's text, which can quote
        # values its query read (query_errors.py).
        message = failure_message(exc) if segment.kind == "query" else error_message(exc)
        raise RefreshError(message) from exc
    return RefreshResult(segment.id, segment.name, size, diff.entered, diff.exited, elapsed)


def refresh_segment_incrementally(session: Session, segment: Segment, *,
                                  now: dt.datetime) -> RefreshResult | None:
    """Re-evaluate ``segment`` for the profiles that changed or crossed a time edge since its last
    refresh; None (nothing done) when it needs a full refresh (incremental.py says when)."""
    started = time.perf_counter()
    try:
        session.flush()
        lock_segment(session, segment.id)
        session.refresh(segment)
        candidates = _stage_candidates(session, segment, now=now)
        if candidates is None:
            return None
        position, staged = candidates
        assert segment.rule is not None
        with session.begin_nested():
            diff, deleted = Diff(), False
            if staged:  # nothing changed and no edge crossed: nothing to evaluate
                scope = incremental.scope_ids()
                rule = compile_members(parse_rule(segment.rule), now=now, profile_ids=scope)
                diff = apply_scoped_diff(session, segment.id, rule, now=now, version=segment.version + 1,
                                         source="refresh", scope=scope)
                assert segment.refreshed_through is not None  # read through it (_stage_candidates)
                deleted = incremental.any_deleted(session, segment.refreshed_through)
            # A deleted profile's memberships went with it, uncounted: count when one was deleted.
            size = (count_members(session, segment.id) if deleted
                    else segment.member_count + diff.entered - diff.exited)
            elapsed = int((time.perf_counter() - started) * 1000)
            _record_success(session, segment, size=size, diff=diff, now=now, elapsed_ms=elapsed,
                            position=position, full=False)
    except Exception as exc:  # any failure of the rule or the database: nothing was changed
        raise RefreshError(error_message(exc)) from exc
    return RefreshResult(segment.id, segment.name, size, diff.entered, diff.exited, elapsed, full=False)


def _stage_candidates(session: Session, segment: Segment, *,
                      now: dt.datetime) -> tuple[int, int] | None:
    """(the log position read through, how many profiles were staged to re-evaluate), or None for
    a full refresh."""
    reading = _candidates_reading(session, segment, now=now)
    if reading is None:
        return None
    position = incremental.log_position(session)
    staged = incremental.stage_candidates(session, **reading)
    return None if staged is None else (position, staged)


def _candidates_reading(session: Session, segment: Segment, *, now: dt.datetime) -> dict[str, Any] | None:
    """What ``incremental.stage_candidates`` reads for ``segment``, or None for a full refresh."""
    last, through = segment.last_refreshed_at, segment.refreshed_through
    if (segment.kind != "live" or not segment.rule or segment.version == 0 or last is None
            or through is None or segment.refreshed_rule != incremental.rule_digest(segment.rule)):
        return None
    try:
        rule = parse_rule(segment.rule)
        edges = incremental.time_edges(rule)
    except (incremental.NotIncremental, ValueError):
        return None
    pruned = incremental.mark(session, incremental.PRUNED_MARK)
    if pruned is not None and pruned.position > through:
        return None  # rows this segment has not read are gone
    return {"through": through, "reads": incremental.tables_read(rule, now), "edges": edges, "since": last,
            "now": now, "rescored": segment_refs(segment).uses_rfm}


def _refresh_level(session_factory: Callable[[], Session], segment_ids: Sequence[int], *,
                   now: dt.datetime) -> dict[int, RefreshResult]:
    """Refresh incrementally, in one transaction, those of one dependency level's segments that allow
    it (PostgreSQL, level_refresh.py); the results of those refreshed. Any failure keeps nothing and
    returns no result: the caller refreshes each segment on its own, which records its error."""
    started = time.perf_counter()
    try:
        with session_factory() as session:
            refresh_settings(session)
            # The candidates drive index probes of the records and memberships: with the default page
            # costs the level statement took 3.6 s against 2.9 s at 1M after 1 % changed (the members'
            # source counts set their own, source_count_costs.py).
            session.execute(text("SET LOCAL random_page_cost = 1.1"))
            # Locked without waiting: a writer holding one of the level's segments (the near-real-time
            # path, several chunks in one transaction) may wait for another this would hold, a
            # deadlock. A segment locked elsewhere is refreshed on its own afterwards, as one at a time.
            segments = {s.id: s for s in session.scalars(
                select(Segment).where(Segment.id.in_(list(segment_ids))).order_by(Segment.id)
                .with_for_update(skip_locked=True).execution_options(populate_existing=True))}
            position = incremental.log_position(session)  # changes from here on are read next time
            readings = {segment_id: reading for segment_id, segment in segments.items()
                        if (reading := _candidates_reading(session, segment, now=now)) is not None}
            if not readings:
                return {}
            staged = level_refresh.stage(session, {segment_id: incremental.candidate_ids(session, **reading)
                                                   for segment_id, reading in readings.items()})
            chosen = [segment_id for segment_id, (count, anyone) in staged.items()
                      if not anyone and count <= incremental.INCREMENTAL_UP_TO]
            evaluated = [segment_id for segment_id in chosen if staged[segment_id][0]]
            diffs = {}
            if evaluated:
                diffs = level_refresh.write_differences(
                    session, {i: parse_rule(segments[i].rule) for i in evaluated},
                    {i: segments[i].version + 1 for i in evaluated}, now=now, source="refresh")
            deleted: dict[int, bool] = {}  # by log position read from
            results = {}
            elapsed = int((time.perf_counter() - started) * 1000) // max(len(chosen), 1)  # shared
            for segment_id in chosen:
                segment, diff = segments[segment_id], diffs.get(segment_id, Diff())
                through = segment.refreshed_through
                assert through is not None  # read through it (_candidates_reading)
                if segment_id in evaluated and through not in deleted:
                    deleted[through] = incremental.any_deleted(session, through)
                # A deleted profile's memberships went with it, uncounted: count when one was deleted.
                size = (count_members(session, segment_id) if segment_id in evaluated and deleted[through]
                        else segment.member_count + diff.entered - diff.exited)
                _record_success(session, segment, size=size, diff=diff, now=now, elapsed_ms=elapsed,
                                position=position, full=False)
                results[segment_id] = RefreshResult(segment_id, segment.name, size, diff.entered, diff.exited,
                                                    elapsed, full=False)
            session.commit()
            return results
    except Exception:  # noqa: BLE001 - each segment is refreshed on its own next, recording its error
        log.warning("refresh of a level of segments failed; refreshing each alone", exc_info=True)
        return {}


def _record_success(session: Session, segment: Segment, *, size: int, diff: Diff, now: dt.datetime,
                    elapsed_ms: int, position: int | None = None, full: bool = True) -> None:
    segment.previous_member_count = segment.member_count
    segment.member_count = size
    segment.version += 1
    segment.is_calculating = False
    segment.last_refreshed_at = now
    segment.last_error = None
    segment.last_refresh_ms = elapsed_ms
    segment.refreshed_through = position
    if full:
        segment.last_full_refresh_at = now
        segment.refreshed_rule = incremental.rule_digest(segment.rule) if segment.kind == "live" else None
    session.add(SegmentSizePoint(segment_id=segment.id, measured_at=now, size=size,
                                 entered=diff.entered, exited=diff.exited))
    session.flush()


def record_refresh_error(session: Session, segment_id: int, message: str) -> None:
    """Keep why the last refresh failed (the caller's transaction is one of its own)."""
    session.execute(update(Segment).where(Segment.id == segment_id)
                    .values(last_error=message[:MAX_ERROR], is_calculating=False))


def run_refresh(session_factory: Callable[[], Session], segment_id: int, *, now: dt.datetime,
                rfm_checked: bool = False, full: bool = True) -> RefreshResult:
    """Refresh one segment in a transaction of its own; a failure is recorded, not raised.

    ``full=False`` re-evaluates only what changed when the segment allows it (incremental.py)."""

    def refresh_one(session: Session, segment_id: int) -> RefreshResult:
        lock_segment(session, segment_id)  # before any read: SQLite's write lock must come first
        refresh_settings(session)
        segment = session.get(Segment, segment_id)
        if segment is None:
            return RefreshResult(segment_id, "?", error="the segment no longer exists")
        if not rfm_checked and segment_refs(segment).uses_rfm:
            refresh_rfm(session, now=now)
        if not full:
            result = refresh_segment_incrementally(session, segment, now=now)
            if result is not None:
                return result
        return refresh_segment(session, segment, now=now)

    [outcome] = each_in_own_transaction(session_factory, [segment_id], refresh_one,
                                        record_error=record_refresh_error, label="refresh of segment")
    if outcome.result is not None:
        return outcome.result
    with session_factory() as session:
        name = session.scalar(select(Segment.name).where(Segment.id == segment_id)) or "?"
    return RefreshResult(segment_id, name, error=outcome.error)


def refresh_settings(session: Session) -> None:
    """PostgreSQL settings for the rest of a refresh transaction (SET LOCAL).

    - ``jit = off``: a rule's subqueries are priced per profile, so at a million profiles nearly
      every refresh query passes the JIT cost thresholds and spends 0.3-1 s compiling (more for
      rules with several subqueries) to save less than that.
    - ``work_mem = 64MB``: lets the planner hash a subquery's profile ids (an OR of "has a quote /
      a job / an opportunity ..." at 1M) instead of probing an index once per profile: 4.1 s -> 2.0 s
      for "Customers within a price range" at 1M. A refresh runs one such query at a time.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text(f"SET LOCAL work_mem = '{REFRESH_WORK_MEM}'"))


def refresh_rfm(session: Session, *, now: dt.datetime, only_if_changed: bool = False) -> bool:
    """Recompute the RFM scores that RFM segment rules test; whether they were recomputed.

    ``only_if_changed``: not when nothing was logged since their last computation, nor when none of
    the logged profiles' completed jobs changed (the scores depend on the completed jobs only, not
    on the time nor on profile fields; the check reads only the logged profiles' jobs); when some
    did, only the logged profiles' purchases are aggregated anew and every buyer re-ranked
    (rfm.py)."""
    from . import rfm  # the scores module is optional to this one: imported when a rule needs it

    position = incremental.log_position(session)
    done = incremental.mark(session, incremental.RFM_MARK)
    logged = None  # the profiles whose purchases may have changed since the scores were computed
    if only_if_changed and done is not None:
        if not incremental.anything_changed_since(session, done.position):
            return False
        # Only writes to the jobs move a purchase; profiles inserted or deleted are logged without one.
        logged = incremental.logged_since(session, done.position, sources=rfm.SOURCES)
        if not rfm.purchases_changed(session, logged):
            # No purchase moved: the scores stand, as computed now. The mark's time moves on too: a
            # recompute later at this same instant must still find the segments refreshed meanwhile.
            incremental.set_mark(session, incremental.RFM_MARK, position, now)
            return False
    if done is not None and done.at is not None and done.at >= now:
        # Scores rewritten at an instant a segment may already have been refreshed at are not
        # "changed after its refresh" (incremental.stage_candidates): those segments recompute in full.
        live = session.scalars(select(Segment).where(Segment.kind == "live",
                                                     Segment.refreshed_through.is_not(None)))
        for segment in live:
            if segment_refs(segment).uses_rfm:
                segment.refreshed_through = None
    rfm.refresh_rfm_scores(session, now=now, logged=logged)
    incremental.set_mark(session, incremental.RFM_MARK, position, now)
    return True


def refresh_many(session_factory: sessionmaker[Session], segment_ids: Sequence[int], *,
                 now: dt.datetime, full: bool = False, nightly_full: bool = False,
                 progress: Callable[[RefreshResult], None] | None = None) -> list[RefreshResult]:
    """Refresh the given segments in dependency order, each in its own transaction.

    Each segment is refreshed incrementally where it can be (incremental.py), in full with ``full``;
    ``nightly_full`` recomputes in full each segment not fully recomputed since the last
    ``NIGHTLY_FULL_HOUR``. Stale planner statistics are refreshed first (statistics.py). RFM scores
    are recomputed once if any of the rules uses them and anything changed since their last
    computation (always with ``full``), committed on their own; on PostgreSQL that runs on a
    connection of its own beside the refresh of the segments that do not read the scores, and those
    that do wait for it. The change log rows every reader has read are deleted at the end.
    """
    with session_factory() as session:
        segments = list(session.scalars(select(Segment).where(
            Segment.id.in_(list(segment_ids)), Segment.kind.in_(REFRESHABLE))))
        refs = {s.id: segment_refs(s) for s in segments}
        levels = [[s.id for s in level] for level in dependency_levels(segments, refs)]
        # PostgreSQL refreshes a level's incremental segments in one transaction (level_refresh.py).
        by_level = session.get_bind().dialect.name == "postgresql"
        # Side by side only when each session gets a connection of its own: not when the sessions are
        # bound to one connection (they join its caller's transaction).
        beside = by_level and isinstance(session.get_bind(), Engine)
        cutoff = last_nightly_cutoff(now)
        in_full = {s.id for s in segments if full or (nightly_full and (
            s.last_full_refresh_at is None or s.last_full_refresh_at < cutoff))}
        if levels:
            analyze_stale_tables(session)
            session.commit()
    scored = {segment_id for segment_id, r in refs.items() if r.uses_rfm}

    def refresh_part(part: list[int]) -> dict[int, RefreshResult]:
        together = (_refresh_level(session_factory, [i for i in part if i not in in_full], now=now)
                    if by_level and part else {})
        return {segment_id: together.get(segment_id) or run_refresh(
            session_factory, segment_id, now=now, rfm_checked=True, full=segment_id in in_full)
            for segment_id in part}

    results = []
    # On PostgreSQL the scores' recomputation, then the segments that read them, run on a connection
    # of their own beside the other segments' refresh, each keeping one core of the server busy: after
    # 1 % of a million profiles changed, 2.1-2.5 s instead of 3.0-3.2 s one after the other.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rfm-scores") as scores_lane:
        rescoring = (scores_lane.submit(_rescore, session_factory, now=now, full=full) if scored and beside
                     else None)
        if scored and not beside:
            _rescore(session_factory, now=now, full=full)

        def after_rescoring(part: list[int]) -> dict[int, RefreshResult]:
            assert rescoring is not None
            rescoring.result()  # done before (one thread), and raises what the recomputation raised
            return refresh_part(part)

        for level in levels:
            reading = [i for i in level if i in scored]
            later = (scores_lane.submit(after_rescoring, reading) if rescoring is not None and reading
                     else None)
            done = refresh_part([i for i in level if i not in scored])
            done.update(later.result() if later is not None else refresh_part(reading))
            for segment_id in level:
                results.append(done[segment_id])
                if progress is not None:
                    progress(done[segment_id])
        if rescoring is not None:
            rescoring.result()
    with session_factory() as session:
        incremental.prune_change_log(session)
        session.commit()
    return results


def _rescore(session_factory: Callable[[], Session], *, now: dt.datetime, full: bool) -> None:
    """Recompute the RFM scores (``refresh_rfm``) in a transaction of their own, then their statistics
    if the rewrite made them stale."""
    with session_factory() as session:
        refresh_settings(session)
        if refresh_rfm(session, now=now, only_if_changed=not full):
            session.commit()
            analyze_stale_tables(session)
        session.commit()


def last_nightly_cutoff(now: dt.datetime) -> dt.datetime:
    """The latest ``NIGHTLY_FULL_HOUR`` (UTC) at or before ``now``."""
    at = now.astimezone(dt.UTC).replace(hour=NIGHTLY_FULL_HOUR, minute=0, second=0, microsecond=0)
    return at if at <= now else at - dt.timedelta(days=1)


def due_segment_ids(session: Session, *, now: dt.datetime) -> list[int]:
    rows = session.execute(select(Segment.id, Segment.last_refreshed_at, Segment.refresh_interval_minutes)
                           .where(Segment.kind.in_(REFRESHABLE)).order_by(Segment.id))
    return [
        segment_id for segment_id, last, minutes in rows
        if minutes > 0 and (last is None or last + dt.timedelta(minutes=minutes) <= now)
    ]


def refresh_due_segments(session_factory: sessionmaker[Session], *, now: dt.datetime,
                         nightly_full: bool = True) -> list[RefreshResult]:
    """Scheduler job: refresh each live and query segment whose interval has passed (incrementally,
    and once a day in full with ``nightly_full``)."""
    with session_factory() as session:
        due = due_segment_ids(session, now=now)
    return refresh_many(session_factory, due, now=now, nightly_full=nightly_full) if due else []

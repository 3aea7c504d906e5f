"""Segments at scale: full refresh of every pre-created segment, preview count of a typical rule, and
re-evaluating every live segment for one changed profile.

    python -m benchmarks.run segments-refresh segments-preview segments-realtime --profiles 100000 \
        --schema models

Targets (PostgreSQL, 1M profiles): all pre-created segments refreshed < 60 s in total and
none > 10 s; preview count < 2 s; one changed profile re-evaluated for every live segment < 50 ms;
the refresh process < 300 MB.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from benchmarks.context import BenchContext
from benchmarks.registry import scenario
from crm_segments.db import make_session_factory, utcnow
from crm_segments.models import Profile, Segment, SegmentMember
from crm_segments.segments.prebuilt import install_builtin_segments
from crm_segments.segments.preview import preview_rule
from crm_segments.segments.realtime import reevaluate_profiles
from crm_segments.segments.refresh import RefreshResult, refresh_many

# "Customers in California who bought within the year and can be emailed": a field, a related-records
# window and a boolean, the shape most rules have.
TYPICAL_RULE = {"all": [
    {"field": "region", "op": "eq", "value": "California"},
    {"records": "jobs", "exists": True, "where": {"all": [
        {"field": "status", "op": "eq", "value": "completed"},
        {"field": "finished_at", "op": "within_last", "value": 12, "unit": "months"}]}},
    {"field": "email_consent", "op": "is_true"},
]}
CHANGED_PROFILES = 40
BATCH, BATCH_RUNS = 100, 5


def _install_and_refresh(context: BenchContext) -> tuple[list[RefreshResult], float]:
    """Refresh every built-in (installed first if missing); the results and the wall time of the
    whole run, which also covers the RFM scores and the planner statistics refreshed first."""
    factory = make_session_factory(context.engine)
    with factory() as session:
        install_builtin_segments(session)
        session.commit()
        ids = list(session.scalars(select(Segment.id).where(Segment.is_builtin.is_(True))))
    started = time.perf_counter()
    results = refresh_many(factory, ids, now=utcnow())
    return results, time.perf_counter() - started


def _summary(run: tuple[list[RefreshResult], float], prefix: str) -> dict[str, Any]:
    results, wall = run
    failed = [f"{r.name}: {r.error}" for r in results if not r.ok]
    slowest = max(results, key=lambda r: r.duration_ms)
    segments_s = sum(r.duration_ms for r in results) / 1000
    return {
        f"{prefix}_wall_s": round(wall, 2),  # everything, RFM scores and statistics included
        f"{prefix}_total_s": round(segments_s, 2),  # the segments' own refreshes
        f"{prefix}_rfm_and_statistics_s": round(wall - segments_s, 2),
        f"{prefix}_slowest": f"{slowest.name} {slowest.duration_ms / 1000:.2f} s",
        f"{prefix}_per_segment_ms": {r.name: r.duration_ms for r in results},
        f"{prefix}_failed": failed,
    }


def _prepare_refreshed(context: BenchContext) -> None:
    context.ensure_demo_data()
    _install_and_refresh(context)


def _segments_are_empty(context: BenchContext) -> bool:
    with context.engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(SegmentMember)) == 0


@scenario("segments-refresh", "install and refresh every pre-created segment twice (first fill, then steady)",
          prepare=BenchContext.ensure_demo_data)
def refresh_all(context: BenchContext) -> dict[str, Any]:
    empty = _segments_are_empty(context)  # a first fill only when nothing was materialized before
    first = _install_and_refresh(context)
    second = _install_and_refresh(context)
    sizes = {r.name: r.size for r in second[0]}
    return {"first_fill": empty, **_summary(first, "first"), **_summary(second, "steady"), "sizes": sizes,
            "segments": len(first[0]), "total_rows": sum(r.entered for r in first[0])}


@scenario("segments-preview", "preview (count, reachability, 20-profile sample) of a typical unsaved rule",
          prepare=BenchContext.ensure_demo_data)
def preview(context: BenchContext) -> dict[str, Any]:
    factory = make_session_factory(context.engine)
    timings = []
    with factory() as session:
        for _ in range(5):
            started = time.perf_counter()
            result = preview_rule(session, TYPICAL_RULE, now=utcnow())
            timings.append(time.perf_counter() - started)
            session.rollback()
    return {"preview_median_s": round(statistics.median(timings), 3), "preview_max_s": round(max(timings), 3),
            "count": result.count, "email_reachable": result.email_reachable}


@scenario("segments-realtime", "re-evaluate every live segment for one changed profile, 40 times, "
          "then for 100 changed profiles at once, 5 times",
          prepare=_prepare_refreshed)
def realtime(context: BenchContext) -> dict[str, Any]:
    factory = make_session_factory(context.engine)
    rng = random.Random(context.seed)
    timings, changes = [], 0
    with factory() as session:
        top = int(session.scalar(select(func.max(Profile.id))) or 0)
        live_count = select(func.count()).select_from(Segment).where(Segment.kind == "live")
        live = int(session.scalar(live_count) or 0)
        for _ in range(CHANGED_PROFILES):
            profile = session.get(Profile, rng.randint(1, top))
            if profile is None:
                continue
            # A change that moves the profile between regional segments, as an API write would.
            profile.region = "California" if profile.region != "California" else "Texas"
            session.flush()
            started = time.perf_counter()
            changed = reevaluate_profiles(session, [profile.id], now=utcnow())
            timings.append(time.perf_counter() - started)
            changes += len(changed)
            session.commit()
        batches = _changed_batches(session, rng, top)
    timings.sort()
    return {"live_segments": live, "profiles_changed": len(timings), "memberships_changed": changes,
            "realtime_median_ms": round(statistics.median(timings) * 1000, 1),
            "realtime_p95_ms": round(timings[int(len(timings) * 0.95) - 1] * 1000, 1),
            "realtime_max_ms": round(timings[-1] * 1000, 1), **batches}


def _changed_batches(session: Session, rng: random.Random, top: int) -> dict[str, Any]:
    """An import's worth of changes: BATCH profiles re-evaluated in one call, BATCH_RUNS times."""
    timings = []
    for _ in range(BATCH_RUNS):
        ids = sorted({rng.randint(1, top) for _ in range(BATCH)})
        session.execute(update(Profile).where(Profile.id.in_(ids)).values(
            region=case((Profile.region == "California", "Texas"), else_="California")))
        started = time.perf_counter()
        reevaluate_profiles(session, ids, now=utcnow())
        timings.append(time.perf_counter() - started)
        session.commit()
    return {f"batch_{BATCH}_median_ms": round(statistics.median(timings) * 1000, 1),
            f"batch_{BATCH}_max_ms": round(max(timings) * 1000, 1)}

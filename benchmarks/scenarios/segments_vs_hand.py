"""The product's segment refresh side by side with hand-written SQL (benchmarks/hand_sql.py) on one
PostgreSQL database, interleaved, each phase RUNS times, memberships compared after every run:

    python -m benchmarks.run segments-vs-hand-sql --profiles 100000 --database-name crm_bench_NAME

(a) first fill of the 20 pre-built segments, and a full recompute of filled ones;
(b) a steady refresh with nothing changed (the product's scheduled refresh; the hand reference is a
    full recompute);
(c) 1 % of profiles and jobs changed by plain SQL UPDATEs (the triggers log them), then the product's
    incremental refresh vs the hand full recompute;
(d) one changed profile against all live segments: ``reevaluate_profiles`` vs one hand statement
    that writes the same members, events and counts (also alone: ``segments-vs-hand-sql-one-profile``).

Each phase also records both sides' median seconds per step (``*_steps_s``: each segment, and the
hand's RFM scores or what the product's whole leaves beyond its segments' own times). The run fails
when any membership differs between the two. Targets (1M profiles): steady < 0.5 s, after 1 %
changed < 3 s, full recompute ≤ 1.2× the hand SQL and first fill ≤ 1.0×, one changed profile ≤ 2×
the hand statement and < 5 ms median.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from benchmarks import hand_sql
from benchmarks.context import BenchContext
from benchmarks.registry import scenario
from crm_segments.db import make_session_factory, utcnow
from crm_segments.models import Segment
from crm_segments.segments.prebuilt import install_builtin_segments
from crm_segments.segments.realtime import reevaluate_profiles
from crm_segments.segments.refresh import refresh_many

RUNS = 3
# Medians of 40 calls moved by ±0.4 ms between runs of the same code, more than the ratio's margin.
ONE_PROFILE_RUNS = int(os.environ.get("BENCH_ONE_PROFILE_RUNS", "200"))
CHANGED_SHARE = 100  # one row in this many changes in phase (c)

_RESET_PRODUCT = """
TRUNCATE crm_segment_members, crm_segment_events, crm_segment_sizes, crm_rfm_scores, crm_refresh_marks;
UPDATE crm_segments SET version = 0, member_count = 0, previous_member_count = 0, last_refreshed_at = NULL,
    refreshed_through = NULL, refreshed_rule = NULL, last_full_refresh_at = NULL WHERE kind = 'live';
"""


class MembershipsDiffer(AssertionError):
    """The product and the hand SQL disagree on some segment's members."""


def _prepare(context: BenchContext) -> None:
    context.ensure_demo_data()
    with make_session_factory(context.engine)() as session:
        install_builtin_segments(session)
        session.commit()
    with context.engine.connect() as connection:
        hand_sql.create_tables(connection)
        connection.commit()


class _Bench:
    def __init__(self, context: BenchContext) -> None:
        self.factory = make_session_factory(context.engine)
        self.hand: Connection = context.engine.connect()
        hand_sql.settings(self.hand)
        self.hand.commit()
        with self.factory() as session:
            rows = session.execute(select(Segment.key, Segment.id).where(
                Segment.key.in_(list(hand_sql.SEGMENTS)), Segment.kind == "live"))
            self.ids: dict[str, int] = {str(key): int(sid) for key, sid in rows}
        missing = set(hand_sql.SEGMENTS) - set(self.ids)
        if missing:
            raise RuntimeError(f"built-in segments missing: {sorted(missing)}")

    def product(self, now: dt.datetime, *, full: bool) -> tuple[float, dict[str, float]]:
        """The whole refresh's seconds, and each segment's own (its refresh's ``duration_ms``; what
        the segments leave of the whole is ``rest``: statistics, commits and what of the RFM scores
        did not run beside the segments; negative where the segments' own times overlap)."""
        started = time.perf_counter()
        results = refresh_many(self.factory, list(self.ids.values()), now=now, full=full)
        elapsed = time.perf_counter() - started
        failed = [f"{r.name}: {r.error}" for r in results if not r.ok]
        if failed:
            raise RuntimeError(f"refresh failed: {failed}")
        keys = {v: k for k, v in self.ids.items()}
        seconds = {keys[r.segment_id]: r.duration_ms / 1000 for r in results}
        return elapsed, {"rest": elapsed - sum(seconds.values()), **seconds}

    def hand_recompute(self, now: dt.datetime, *, first_fill: bool = False) -> tuple[float, dict[str, float]]:
        started = time.perf_counter()
        seconds = hand_sql.recompute(self.hand, self.ids, now=now, first_fill=first_fill)
        return time.perf_counter() - started, seconds

    def check(self, phase: str, profile_id: int | None = None) -> None:
        found = hand_sql.differences(self.hand, self.ids, profile_id)
        self.hand.commit()
        if found:
            raise MembershipsDiffer(f"{phase}: profiles differ per segment {found}")


Split = dict[str, list[float]]  # seconds per step (``rfm``, ``rest`` or a segment key), one per run


def _side_by_side(bench: _Bench, phase: str, *, full: bool, first_fill: bool = False,
                  before: Callable[[int], None] | None = None,
                  ) -> tuple[list[float], list[float], Split, Split]:
    """RUNS interleaved pairs at one instant each (the same windows for both): the product first in
    even runs, the hand SQL first in odd ones; memberships compared after each pair. The product's
    and the hand's seconds per run, then per step."""
    products: list[float] = []
    hands: list[float] = []
    product_steps: Split = {}
    hand_steps: Split = {}
    for run in range(RUNS):
        if before is not None:
            before(run)
        now = utcnow()
        for side in ((0, 1) if run % 2 == 0 else (1, 0)):
            total, steps = (bench.product(now, full=full) if side == 0
                            else bench.hand_recompute(now, first_fill=first_fill))
            (products if side == 0 else hands).append(total)
            for step, seconds in steps.items():
                (product_steps if side == 0 else hand_steps).setdefault(step, []).append(seconds)
        bench.check(f"{phase} run {run + 1}")
    return products, hands, product_steps, hand_steps


def _figures(name: str, products: list[float], hands: list[float], product_steps: Split | None = None,
             hand_steps: Split | None = None) -> dict[str, Any]:
    p, h = statistics.median(products), statistics.median(hands)
    figures = {f"{name}_product_s": [round(x, 3) for x in products],
               f"{name}_hand_s": [round(x, 3) for x in hands],
               f"{name}_product_median_s": round(p, 3), f"{name}_hand_median_s": round(h, 3),
               f"{name}_ratio": round(p / h, 2) if h else None}
    if product_steps and hand_steps:
        # Per step, the product's and the hand's median seconds: where the ratio comes from (None for
        # a step of one side only: the product's ``rest``, the hand's ``rfm``).
        figures[f"{name}_steps_s"] = {
            step: [_median(product_steps.get(step)), _median(hand_steps.get(step))]
            for step in {**product_steps, **hand_steps}}
    return figures


def _median(seconds: list[float] | None) -> float | None:
    return round(statistics.median(seconds), 3) if seconds else None


def _change_share(connection: Connection, run: int) -> int:
    """Change one profile and one job in CHANGED_SHARE by plain SQL (logged by the triggers)."""
    profiles: Any = connection.execute(text("""
        UPDATE crm_profiles SET region = CASE WHEN region = 'California' THEN 'Texas' ELSE 'California' END,
            company = CASE WHEN company IS NULL THEN 'Changed Co' ELSE NULL END
        WHERE id % :share = :run"""), {"share": CHANGED_SHARE, "run": run})
    jobs: Any = connection.execute(text("""
        UPDATE crm_jobs SET status = CASE WHEN status = 'completed' THEN 'cancelled' ELSE 'completed' END,
            amount = amount + 700
        WHERE id % :share = :run"""), {"share": CHANGED_SHARE, "run": run})
    connection.commit()
    return int(profiles.rowcount) + int(jobs.rowcount)


def _one_profile(bench: _Bench) -> dict[str, Any]:
    statement = text(hand_sql.one_profile_statement(bench.ids))
    hand_sql.count_members(bench.hand)  # untimed: the counts the hand statement keeps, as they stand
    bench.hand.commit()
    products, hands = [], []
    with bench.factory() as session:
        top = int(session.scalar(text("SELECT max(id) FROM crm_profiles")) or 0)
        step = max(top // ONE_PROFILE_RUNS, 1)
        for n in range(ONE_PROFILE_RUNS):
            pid = 1 + n * step
            session.execute(text("""UPDATE crm_profiles SET region = CASE WHEN region = 'California'
                THEN 'Texas' ELSE 'California' END WHERE id = :pid"""), {"pid": pid})
            session.commit()
            now = utcnow()
            started = time.perf_counter()
            reevaluate_profiles(session, [pid], now=now)
            products.append(time.perf_counter() - started)
            session.commit()
            started = time.perf_counter()
            bench.hand.execute(statement, {**hand_sql.params(now), "pid": pid})
            hands.append(time.perf_counter() - started)
            bench.hand.commit()
            bench.check(f"one profile {pid}", pid)
    figures = _figures("one_profile", products, hands)
    for key in ("product_s", "hand_s", "product_median_s", "hand_median_s"):
        del figures[f"one_profile_{key}"]
    products.sort()
    figures["one_profile_product_p95_ms"] = round(products[int(len(products) * 0.95) - 1] * 1000, 2)
    figures["one_profile_product_median_ms"] = round(statistics.median(products) * 1000, 2)
    figures["one_profile_hand_median_ms"] = round(statistics.median(hands) * 1000, 2)
    return figures


def _reset(bench: _Bench) -> None:
    bench.hand.execute(text(_RESET_PRODUCT))
    hand_sql.empty_tables(bench.hand)
    bench.hand.commit()


@scenario("segments-vs-hand-sql", "the 20 pre-built segments: first fill, full recompute, steady, after 1 % "
          "changed and one changed profile, product vs hand-written SQL side by side", prepare=_prepare)
def versus_hand_sql(context: BenchContext) -> dict[str, Any]:
    return _run(context, first_fill=True)


@scenario("segments-vs-hand-sql-refresh", "segments-vs-hand-sql without the first fill (on filled segments, "
          "filled untimed first when empty)", prepare=_prepare)
def versus_hand_sql_refresh(context: BenchContext) -> dict[str, Any]:
    return _run(context, first_fill=False)


@scenario("segments-vs-hand-sql-one-profile", "phase (d) of segments-vs-hand-sql alone: one changed profile "
          "against all live segments, product vs the hand statement (segments filled untimed first "
          "when empty)",
          prepare=_prepare)
def versus_hand_sql_one_profile(context: BenchContext) -> dict[str, Any]:
    if context.engine.dialect.name != "postgresql":
        raise RuntimeError("the hand-written reference is PostgreSQL SQL")
    bench = _Bench(context)
    try:
        if _unfilled(bench):
            _reset(bench)
            now = utcnow()
            bench.product(now, full=True)
            bench.hand_recompute(now, first_fill=True)
            bench.check("first fill")
        return _one_profile(bench) | {"memberships_agree": True}  # every check raised otherwise
    finally:
        bench.hand.close()


def _run(context: BenchContext, *, first_fill: bool) -> dict[str, Any]:
    if context.engine.dialect.name != "postgresql":
        raise RuntimeError("the hand-written reference is PostgreSQL SQL")
    bench = _Bench(context)
    try:
        figures: dict[str, Any] = {}
        if first_fill or _unfilled(bench):
            fill = _figures("first_fill", *_side_by_side(
                bench, "first fill", full=True, first_fill=True, before=lambda _: _reset(bench)))
            figures |= fill if first_fill else {}
        figures |= _figures("full", *_side_by_side(bench, "full recompute", full=True))
        figures |= _figures("steady", *_side_by_side(bench, "steady", full=False))
        changed: list[int] = []
        figures |= _figures("changed_1pct", *_side_by_side(
            bench, "after 1 % changed", full=False,
            before=lambda run: changed.append(_change_share(bench.hand, run))))
        figures["changed_rows_per_run"] = changed
        figures |= _one_profile(bench)
        figures["members"] = int(bench.hand.scalar(text(f"SELECT count(*) FROM {hand_sql.MEMBERS}")) or 0)
        figures["memberships_agree"] = True  # every check above raised otherwise
        return figures
    finally:
        bench.hand.close()


def _unfilled(bench: _Bench) -> bool:
    with bench.factory() as session:
        versions = session.scalars(select(Segment.version).where(Segment.id.in_(list(bench.ids.values()))))
        hand_rows = bench.hand.scalar(text(f"SELECT EXISTS (SELECT FROM {hand_sql.MEMBERS})"))
        return any(v == 0 for v in versions) or not hand_rows

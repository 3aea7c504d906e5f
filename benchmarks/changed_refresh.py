"""A scheduled refresh of the pre-built segments after 1 % of profiles and 1 % of jobs changed.

    python -m benchmarks.changed_refresh prepare DATABASE_URL
    python -m benchmarks.changed_refresh run DATABASE_URL RUN [--statements N] [--no-check]

``prepare`` (untimed) installs the pre-built segments, recomputes them and the RFM scores in full and
prunes the change log. ``run`` changes one profile (region, company) and one job (status, amount) in 100
by plain SQL UPDATEs, those whose id is RUN modulo 100 (the triggers log them), then times
``refresh_many`` as the scheduler runs it: each segment and the whole. ``--statements N`` also prints
the N slowest statements. Afterwards (untimed) every segment's members are compared with its rule
evaluated in full and the RFM scores with a full computation; the run fails when any differs. Changes
data: run it on a copy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import time
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Engine

from crm_segments.db import make_engine, make_session_factory
from crm_segments.models import RfmScore, Segment, SegmentMember
from crm_segments.segments import incremental, rfm
from crm_segments.segments.compiler import compile_members
from crm_segments.segments.prebuilt import install_builtin_segments
from crm_segments.segments.refresh import refresh_many, refresh_settings
from crm_segments.segments.rules import parse_rule

SHARE = 100  # one row in this many changes


def prepare(engine: Engine) -> None:
    factory = make_session_factory(engine)
    with factory() as session:
        install_builtin_segments(session)
        session.commit()
        ids = list(session.scalars(select(Segment.id).where(Segment.kind == "live", Segment.is_builtin)))
    refresh_many(factory, ids, now=dt.datetime.now(dt.UTC), full=True)
    with factory() as session:
        incremental.prune_change_log(session)
        session.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))


def change(engine: Engine, run: int) -> int:
    with engine.begin() as connection:
        profiles: Any = connection.execute(text("""
            UPDATE crm_profiles
            SET region = CASE WHEN region = 'California' THEN 'Texas' ELSE 'California' END,
                company = CASE WHEN company IS NULL THEN 'Changed Co' ELSE NULL END
            WHERE id % :share = :run"""), {"share": SHARE, "run": run})
        jobs: Any = connection.execute(text("""
            UPDATE crm_jobs SET status = CASE WHEN status = 'completed' THEN 'cancelled' ELSE 'completed' END,
                amount = amount + 700
            WHERE id % :share = :run"""), {"share": SHARE, "run": run})
    return int(profiles.rowcount) + int(jobs.rowcount)


class StatementTimes:
    """Wall time of each statement the engine sends, to print the slowest."""

    def __init__(self, engine: Engine) -> None:
        self.times: list[tuple[float, str]] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info["statement_started"] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.times.append((time.perf_counter() - conn.info["statement_started"], statement))

    def report(self, top: int) -> None:
        print(f"{len(self.times)} statements, {sum(t for t, _ in self.times):.3f} s")
        kinds: dict[str, list[float]] = {}
        for seconds, statement in self.times:
            kinds.setdefault(_kind(statement), []).append(seconds)
        for kind, seconds_each in sorted(kinds.items(), key=lambda k: -sum(k[1]))[:top]:
            print(f"  {sum(seconds_each):7.3f} s in {len(seconds_each):3d}  {kind}")
        for seconds, statement in sorted(self.times, reverse=True)[:top]:
            print(f"  {seconds:7.3f} s  {' '.join(statement.split())[:220]}")


def _kind(statement: str) -> str:
    words = statement.split()
    verb = words[0].upper() if words else ""
    table = re.search(r"(?:INTO|UPDATE|FROM|ANALYZE|TABLE)\s+(\"?[\w.\"]+)", statement)
    return f"{verb} {table.group(1) if table else ' '.join(words[1:3])}"


def timed_refresh(engine: Engine, statements: int) -> dt.datetime:
    factory = make_session_factory(engine)
    with factory() as session:
        ids = list(session.scalars(select(Segment.id).where(Segment.kind == "live", Segment.is_builtin)))
    times = StatementTimes(engine) if statements else None
    now = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    results = refresh_many(factory, ids, now=now)
    whole = time.perf_counter() - started
    failed = [f"{r.name}: {r.error}" for r in results if not r.ok]
    if failed:
        raise SystemExit(f"refresh failed: {failed}")
    segments = sum(r.duration_ms for r in results) / 1000
    # On PostgreSQL the RFM step runs beside the segments that do not read the scores (refresh.py),
    # so the segments' own times may add up to more than the whole.
    print(f"whole {whole:.3f} s, the segments' own times {segments:.3f} s")
    for r in sorted(results, key=lambda r: -r.duration_ms):
        how = "full" if r.full else "incr"
        print(f"  {r.duration_ms / 1000:6.3f} s  {how} +{r.entered} -{r.exited}  {r.name}")
    if times is not None:
        times.report(statements)
        event.remove(engine, "before_cursor_execute", times._before)
        event.remove(engine, "after_cursor_execute", times._after)
    return now


def check(engine: Engine, now: dt.datetime) -> None:
    """Every segment's members against its rule evaluated in full, the scores against a full
    computation; raises on any difference."""
    factory = make_session_factory(engine)
    with factory() as session:
        refresh_settings(session)
        stored = select(*(getattr(RfmScore, c) for c in rfm._VALUES), RfmScore.profile_id)
        scores = rfm._scores(now).subquery()
        fresh = select(*(scores.c[c] for c in (*rfm._VALUES, "profile_id")))
        differ = session.scalar(select(func.count()).select_from(stored.except_(fresh).subquery()))
        differ += session.scalar(select(func.count()).select_from(fresh.except_(stored).subquery()))
        if differ:
            raise SystemExit(f"RFM scores differ from a full computation in {differ} rows")
        for segment in session.scalars(select(Segment).where(Segment.kind == "live", Segment.is_builtin)):
            rule = compile_members(parse_rule(segment.rule), now=now)
            members = select(SegmentMember.profile_id).where(SegmentMember.segment_id == segment.id)
            extra = session.scalar(select(func.count()).select_from(members.except_(rule).subquery()))
            missing = session.scalar(select(func.count()).select_from(rule.except_(members).subquery()))
            if extra or missing or segment.member_count != session.scalar(
                    select(func.count()).select_from(members.subquery())):
                raise SystemExit(f"{segment.name}: {extra} members too many, {missing} missing "
                                 f"(count {segment.member_count})")
    print("memberships and scores equal a full computation")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=("prepare", "run"))
    parser.add_argument("url")
    parser.add_argument("run", type=int, nargs="?", default=0)
    parser.add_argument("--statements", type=int, default=0)
    parser.add_argument("--no-check", action="store_true")
    args = parser.parse_args()
    engine = make_engine(args.url)
    if args.action == "prepare":
        prepare(engine)
    else:
        print(f"{os.getloadavg()[0]:.2f} load; {change(engine, args.run)} rows changed (run {args.run})")
        now = timed_refresh(engine, args.statements)
        print(f"{os.getloadavg()[0]:.2f} load after")
        if not args.no_check:
            check(engine, now)
    engine.dispose()


if __name__ == "__main__":
    main()

"""A purchase written through the API, until its profile is a member of "within the last N days" segments.

    python -m benchmarks.run segments-purchase-api --profiles 1000000 --database-url ...

Target (PostgreSQL, 1M profiles): a job completed through ``POST /api/v1/jobs`` (finished "now", stamped
by the server) puts a profile that never bought into "Purchased within the last 30 days", Active
Customers and New Customers within one second, through near-real-time re-evaluation alone.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from typing import Any

from sqlalchemy import func, select

from benchmarks.context import BenchContext
from benchmarks.registry import scenario
from crm_segments.db import make_session_factory, utcnow
from crm_segments.models import Profile, Segment, SegmentMember
from crm_segments.segments.refresh import refresh_segment

from .segments import _prepare_refreshed

PURCHASES = 20
RECENT_BUYERS = "Bench: purchased within the last 30 days"
RECENT_RULE = {"records": "jobs", "exists": True, "where": {"all": [
    {"field": "status", "op": "eq", "value": "completed"},
    {"field": "finished_at", "op": "within_last", "value": 30, "unit": "days"}]}}
WATCHED = ("active_customers", "new_customers")


def _prepare(context: BenchContext) -> None:
    """Demo data, every built-in segment filled, and a filled "purchased within 30 days" segment."""
    _prepare_refreshed(context)
    with make_session_factory(context.engine)() as session:
        segment = session.scalar(select(Segment).where(Segment.name == RECENT_BUYERS))
        if segment is None:
            segment = Segment(name=RECENT_BUYERS, kind="live", rule=RECENT_RULE)
            session.add(segment)
            session.flush()
        refresh_segment(session, segment, now=utcnow())
        session.commit()


def _never_bought(session: Any, customers_id: int, rng: random.Random, top: int) -> list[int]:
    """PURCHASES random profiles that are not customers: the purchase is their first."""
    chosen: list[int] = []
    while len(chosen) < PURCHASES:
        candidate = rng.randint(1, top)
        if candidate in chosen or session.get(Profile, candidate) is None:
            continue
        inside = session.scalar(select(func.count()).select_from(SegmentMember).where(
            SegmentMember.profile_id == candidate, SegmentMember.segment_id == customers_id))
        if not inside:
            chosen.append(candidate)
    return chosen


@scenario("segments-purchase-api", "a job completed through the API: time until its profile is a member "
          "of 'purchased within 30 days', Active and New Customers (20 purchases)", prepare=_prepare)
def purchase_api(context: BenchContext) -> dict[str, Any]:
    from crm_segments import create_app
    from crm_segments.accounts.users import create_api_key, create_user
    from crm_segments.cli.server import warm_near_real_time

    os.environ.setdefault("CRM_SEGMENTS_INSTANCE_DIR", tempfile.mkdtemp(prefix="crm-bench-"))
    app = create_app({"CRM_SEGMENTS_DATABASE_URL": context.database_url, "SECRET_KEY": "bench-" + "x" * 32})
    factory = make_session_factory(context.engine)
    stamp = time.time_ns()
    with factory() as session:
        user = create_user(session=session, email=f"bench{stamp}@example.com", password="bench-password-1",
                           role="admin")
        _, secret = create_api_key(session=session, email=user.email, name="bench")
        watched = select(Segment.id).where(Segment.key.in_(WATCHED))
        segment_ids = [session.scalars(select(Segment.id).where(Segment.name == RECENT_BUYERS)).one(),
                       *session.scalars(watched)]
        top = int(session.scalar(select(func.max(Profile.id))) or 0)
        customers_id = session.scalars(select(Segment.id).where(Segment.key == "customers")).one()
        buyers = _never_bought(session, customers_id, random.Random(context.seed), top)
        session.commit()
    warm_near_real_time(app)  # as `serve` and `run` do before serving
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    timings, requests, entered = [], [], 0
    for i, profile_id in enumerate(buyers):
        started = time.perf_counter()
        job = client.post("/api/v1/jobs", headers=headers, json={
            "external_id": f"bench-purchase-{stamp}-{i}", "profile_id": profile_id, "title": "Bench purchase",
            "status": "completed", "amount": "450.00"})
        requests.append(time.perf_counter() - started)
        assert job.status_code == 201, job.json
        with factory() as session:  # a fresh connection: the membership is committed and visible
            found = session.scalar(select(func.count()).select_from(SegmentMember).where(
                SegmentMember.profile_id == profile_id, SegmentMember.segment_id.in_(segment_ids)))
        timings.append(time.perf_counter() - started)
        entered += int(found == len(segment_ids))
    # The first request of a process also pays for Flask's and SQLAlchemy's first use of each path.
    first, warm = timings[0], sorted(timings[1:])
    timings.sort()
    return {"purchases": len(buyers), "entered_all_three": entered,
            "median_ms": round(statistics.median(timings) * 1000, 1),
            "p95_ms": round(timings[int(len(timings) * 0.95) - 1] * 1000, 1),
            "max_ms": round(timings[-1] * 1000, 1), "first_ms": round(first * 1000, 1),
            "max_after_first_ms": round(warm[-1] * 1000, 1),
            "request_median_ms": round(statistics.median(requests) * 1000, 1)}

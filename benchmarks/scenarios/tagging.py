"""Tagging at scale: bulk-tag a filtered list and undo it, every shipped auto-tag rule over the whole
base, and adding a tag on a profile page through the web UI.

    python -m benchmarks.run tag-bulk-filter tag-auto-rules tag-add-web tag-realtime --profiles 100000

Targets (PostgreSQL, 1M profiles): bulk tag of 100,000 filtered profiles < 2 s and its undo
< 2 s; all shipped rules < 30 s; adding a tag on a profile page < 100 ms server time; re-running
the rules for one changed profile: milliseconds.
"""

from __future__ import annotations

import os
import random
import re
import statistics
import tempfile
import time
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from benchmarks.context import BenchContext
from benchmarks.registry import scenario
from crm_segments.db import make_session_factory
from crm_segments.models import AutoTagRule, Profile, ProfileTag, TagEvent

BULK_TARGET = 100_000
WEB_REQUESTS = 60
CHANGED_PROFILES = 40
BATCH, BATCH_RUNS = 1_000, 3


def _bulk_filter(session: Session, profiles: int) -> dict[str, str]:
    """A profiles-list filter that selects about 100,000 profiles (all of them in a base that small)."""
    if profiles <= BULK_TARGET:
        return {}
    counts = session.execute(select(Profile.region, Profile.lifecycle_status, func.count())
                             .group_by(Profile.region, Profile.lifecycle_status)).all()
    by_region: dict[str, int] = {}
    for region, _lifecycle, n in counts:
        by_region[region] = by_region.get(region, 0) + n
    candidates = [({"region": r}, n) for r, n in by_region.items() if r] + [
        ({"region": r, "lifecycle": lc}, n) for r, lc, n in counts if r]
    best, _count = min(candidates, key=lambda c: abs(c[1] - BULK_TARGET))
    return best


@scenario("tag-bulk-filter", "bulk-tag ~100k profiles selected by a list filter, then undo it",
          prepare=BenchContext.ensure_demo_data)
def bulk_filter(context: BenchContext) -> dict[str, Any]:
    from crm_segments.selection import targets as selection
    from crm_segments.tagging.bulk import bulk_tag, undo_bulk_operation
    from crm_segments.tagging.names import get_or_create_tag

    factory = make_session_factory(context.engine)
    with factory() as session:
        chosen_filter = _bulk_filter(session, context.profiles)
        tag, _ = get_or_create_tag(session=session, name=f"Bench bulk {time.time_ns()}")
        session.commit()
    with factory() as session:
        started = time.perf_counter()
        result = bulk_tag(session=session, action="add", selection=selection.by_filter(**chosen_filter),
                          tags=[session.merge(tag)])
        session.commit()
        bulk_seconds = time.perf_counter() - started
        operation_id = result.operation.id
    with factory() as session:
        started = time.perf_counter()
        undo = undo_bulk_operation(session=session, operation_id=operation_id)
        session.commit()
        undo_seconds = time.perf_counter() - started
    with factory() as session:
        left = session.scalar(select(func.count()).select_from(ProfileTag).where(ProfileTag.tag_id == tag.id))
    return {"filter": chosen_filter, "selected": result.selected, "tagged": result.changed,
            "bulk_seconds": round(bulk_seconds, 2), "undone": undo.reverted,
            "undo_seconds": round(undo_seconds, 2), "left_after_undo": left}


def _prepare_rules(context: BenchContext) -> None:
    """Demo data, the shipped rules, and none of their tags yet, so the run is a first full run."""
    from crm_segments.tagging.shipped import install_shipped_rules

    context.ensure_demo_data()
    with make_session_factory(context.engine)() as session:
        install_shipped_rules(session)
        rule_ids = select(AutoTagRule.id).where(AutoTagRule.is_builtin)
        session.execute(delete(ProfileTag).where(ProfileTag.rule_id.in_(rule_ids)))
        session.execute(delete(TagEvent).where(TagEvent.rule_id.in_(rule_ids)))
        session.commit()


@scenario("tag-auto-rules", "run every shipped auto-tag rule over the whole base (first run, then again)",
          prepare=_prepare_rules)
def auto_rules(context: BenchContext) -> dict[str, Any]:
    from crm_segments.tagging.auto import run_auto_tag_rules

    factory = make_session_factory(context.engine)
    started = time.perf_counter()
    first = run_auto_tag_rules(factory)
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    second = run_auto_tag_rules(factory)
    second_seconds = time.perf_counter() - started
    with factory() as session:
        names = dict(session.execute(select(AutoTagRule.id, AutoTagRule.key)).all())
    errors = {names[r.rule_id]: r.error for r in first + second if r.error}
    if errors:
        raise RuntimeError(f"rules failed: {errors}")
    return {
        "first_run_seconds": round(first_seconds, 2), "second_run_seconds": round(second_seconds, 2),
        "rules": {names[r.rule_id]: {"added": r.added, "removed": r.removed, "ms": r.duration_ms}
                  for r in first},
        "second_run_ms": {names[r.rule_id]: r.duration_ms for r in second},
    }


@scenario("tag-add-web", "add a tag on a profile page through the web UI (server time per request)",
          prepare=BenchContext.ensure_demo_data)
def add_on_profile_page(context: BenchContext) -> dict[str, Any]:
    from crm_segments import create_app
    from crm_segments.accounts.users import create_user

    os.environ.setdefault("CRM_SEGMENTS_INSTANCE_DIR", tempfile.mkdtemp(prefix="crm-bench-"))
    app = create_app({"CRM_SEGMENTS_DATABASE_URL": context.database_url, "SECRET_KEY": "bench-" + "x" * 32})
    email = f"bench{time.time_ns()}@example.com"
    factory = make_session_factory(context.engine)
    with factory() as session:
        create_user(session=session, email=email, password="bench-password", role="sales", name="Bench")
        session.commit()
        top = session.scalar(select(func.max(Profile.id))) or 1
    client = app.test_client()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login").get_data(as_text=True))
    assert token
    client.post("/login", data={"email": email, "password": "bench-password", "csrf_token": token.group(1)})
    step = max(top // WEB_REQUESTS, 1)
    pages, adds = [], []
    for i in range(WEB_REQUESTS):
        profile_id = 1 + i * step
        started = time.perf_counter()
        page = client.get(f"/profiles/{profile_id}")
        pages.append(time.perf_counter() - started)
        if page.status_code != 200:
            continue
        csrf = re.search(r'data-csrf="([^"]+)"', page.get_data(as_text=True))
        assert csrf, "the profile page has no tag editor"
        started = time.perf_counter()
        response = client.post(f"/tags/entity/profile/{profile_id}/add", json={"name": f"Bench web {i % 5}"},
                               headers={"X-CSRFToken": csrf.group(1), "Accept": "application/json"})
        adds.append(time.perf_counter() - started)
        assert response.status_code in (200, 201), response.get_data(as_text=True)
    adds_ms = sorted(round(s * 1000, 1) for s in adds[1:])  # the first request warms caches
    pages_ms = sorted(round(s * 1000, 1) for s in pages[1:])
    return {"requests": len(adds), "add_median_ms": statistics.median(adds_ms), "add_p95_ms": _p95(adds_ms),
            "add_max_ms": adds_ms[-1], "page_median_ms": statistics.median(pages_ms),
            "page_p95_ms": _p95(pages_ms)}


def _p95(sorted_values: list[float]) -> float:
    return sorted_values[max(int(len(sorted_values) * 0.95) - 1, 0)]


def _prepare_installed_rules(context: BenchContext) -> None:
    from crm_segments.tagging.shipped import install_shipped_rules

    context.ensure_demo_data()
    with make_session_factory(context.engine)() as session:
        install_shipped_rules(session)
        session.commit()


@scenario("tag-realtime", "re-run every enabled auto-tag rule for one changed profile, 40 times, then "
          "for 1,000 changed profiles at once, 3 times",
          prepare=_prepare_installed_rules)
def realtime(context: BenchContext) -> dict[str, Any]:
    """What each write to a profile triggers (the "profile changed" listener), in its own transaction;
    rolled back, so every run starts from the same taggings."""
    from crm_segments.tagging.realtime import reevaluate_profiles

    factory = make_session_factory(context.engine)
    rng = random.Random(context.seed)
    with factory() as session:
        top = int(session.scalar(select(func.max(Profile.id))) or 0)
        rules = int(session.scalar(select(func.count()).select_from(AutoTagRule)
                                   .where(AutoTagRule.enabled)) or 0)
        reevaluate_profiles(session, [rng.randint(1, top)])  # builds the cached statements
        session.rollback()
    one = []
    for _ in range(CHANGED_PROFILES):
        with factory() as session:
            started = time.perf_counter()
            reevaluate_profiles(session, [rng.randint(1, top)])
            one.append(time.perf_counter() - started)
            session.rollback()
    batches = []
    for _ in range(BATCH_RUNS):
        with factory() as session:
            start = rng.randint(1, max(top - BATCH, 1))
            started = time.perf_counter()
            reevaluate_profiles(session, range(start, start + BATCH))
            batches.append(time.perf_counter() - started)
            session.rollback()
    one_ms = sorted(round(s * 1000, 1) for s in one)
    return {"rules": rules, "one_profile_median_ms": statistics.median(one_ms),
            "one_profile_p95_ms": _p95(one_ms), "one_profile_max_ms": one_ms[-1], "batch": BATCH,
            "batch_median_ms": round(statistics.median(batches) * 1000, 1)}

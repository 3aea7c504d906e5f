"""The lists people page through: the profiles list with its total and in a sorted order, a record
list's total, and a profile's activity timeline.

    python -m benchmarks.run lists --profiles 100000

Each figure is the best of three runs, in milliseconds, of the same calls the pages make: the total
(exact, or the planner's estimate when counting takes over 200 ms), the first page and a page 20
pages deep sorted by last name, the quotes list's total, and the first two timeline pages of the
profile with the most segment events.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from benchmarks.context import BenchContext
from benchmarks.registry import scenario
from crm_segments.db import make_session_factory
from crm_segments.models import SegmentEvent

RUNS = 3


def _best(call: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(RUNS):
        started = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - started) * 1000)
    return round(min(times), 1), result


@scenario("lists", "profiles list total and sorted pages, quotes total, a profile's activity timeline",
          prepare=BenchContext.ensure_demo_data)
def lists(context: BenchContext) -> dict[str, Any]:
    from crm_segments.profiles import queries, timeline
    from crm_segments.records import queries as record_queries
    from crm_segments.records.profiles import profile_filter

    details: dict[str, Any] = {}
    factory = make_session_factory(context.engine)
    with factory() as session:
        for name, filters in (("all", {}), ("region", {"region": "North"}), ("search", {"q": "smi"})):
            ms, total = _best(lambda f=filters: queries.count_profiles(session=session,
                                                                        profile_filter=profile_filter(**f)))
            details[f"profiles_total_{name}"] = {"ms": ms, "value": total.value, "exact": total.exact}
        ms, _ = _best(lambda: queries.list_profiles(session=session, sort="name", limit=50))
        details["profiles_sorted_first_page_ms"] = ms
        after = None
        for _ in range(20):
            after = queries.list_profiles(session=session, sort="name", after=after, limit=50).next_after
        ms, _ = _best(lambda: queries.list_profiles(session=session, sort="name", after=after, limit=50))
        details["profiles_sorted_page_21_ms"] = ms
        quotes = record_queries.validate_record_filter("quote")
        ms, total = _best(lambda: record_queries.count_records(session=session, record_filter=quotes))
        details["quotes_total"] = {"ms": ms, "value": total.value, "exact": total.exact}
        busiest = session.scalar(select(SegmentEvent.profile_id).group_by(SegmentEvent.profile_id)
                                 .order_by(func.count().desc()).limit(1))
        if busiest is not None:
            ms, page = _best(lambda: timeline.profile_timeline(session, profile_id=busiest))
            details["timeline_first_page_ms"] = ms
            if page.older:
                older = page.older
                ms, _ = _best(lambda: timeline.profile_timeline(session, profile_id=busiest, before=older))
                details["timeline_second_page_ms"] = ms
        session.rollback()
    return details

"""seed: bulk-load N demo profiles with three years of history into an empty database."""

from __future__ import annotations

from typing import Any

from benchmarks.context import BenchContext
from benchmarks.registry import scenario
from crm_segments.demo.seed import seed_database


@scenario("seed", "crm-segments seed-demo: generate and bulk-load N profiles with their records")
def seed(context: BenchContext) -> dict[str, Any]:
    report = seed_database(context.engine, profiles=context.profiles, seed=context.seed)
    return {"rows": report.rows, "total_rows": report.total_rows,
            "rows_per_second": round(report.total_rows / report.seconds)}

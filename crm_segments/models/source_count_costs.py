"""The members' acquisition-source counts (segment_sources.py) probe the profiles by key.

The count joins the member rows one statement wrote to crm_profiles. With the default page costs the
planner read every profile for it (a merge or hash join) from about 20k rows on at 1M profiles: for
30k member rows inserted and then deleted, 0.56 s and 1.27 s, against 0.26 s and 0.58 s by index
probes. A full refresh, a first fill or an incremental refresh of a level writes that many at once.
From about 100k rows the scan is chosen anyway and costs about what the probes would.

Set on the function, the cost holds for its queries alone, whoever writes the members. A function
definition replaced later (CREATE OR REPLACE) loses it unless it names it again.
"""

from __future__ import annotations

from .schema_ddl import run_after_create_all

_FUNCTION = "crm_segment_members_count_sources()"

SOURCE_COUNT_COSTS: dict[str, tuple[str, ...]] = {
    "postgresql": (f"ALTER FUNCTION {_FUNCTION} SET random_page_cost = 1.1",)}
# What a downgrade puts back: the server's own setting.
SOURCE_COUNT_COSTS_BEFORE: dict[str, tuple[str, ...]] = {
    "postgresql": (f"ALTER FUNCTION {_FUNCTION} RESET random_page_cost",)}

run_after_create_all(SOURCE_COUNT_COSTS)

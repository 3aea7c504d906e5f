"""PostgreSQL statement triggers that return at once when their statement wrote no row.

A statement trigger fires even when its statement inserted, updated or deleted nothing, and then ran
its whole body over empty transition tables: the profile check took the shared advisory lock and
anti-joined, the counts locked and upserted nothing. The near-real-time path writes members and
events in one statement per change, most of whose inserts and deletes are empty, so every change
paid that for 7 triggers (≈ 35 µs each on an empty statement, against 1 µs for a table without
triggers).

The functions here are the same functions as their originals (the constants cited, which never
change) with one test in front; the triggers themselves are unchanged. Functions whose trigger names
its rows ``written`` test that; the counts (count_triggers.Counts.of_rows) test the transition table
their operation has.
"""

from __future__ import annotations

import re

from .day_counts import DAY_COUNT_TRIGGERS
from .schema_ddl import run_after_create_all
from .segment_sources import SEGMENT_SOURCE_TRIGGERS
from .triggers import (
    HISTORY_REFERENCE_TRIGGERS,
    MEMBER_CONSENT_PROFILE_TRIGGERS,
    MEMBER_SEGMENT_TRIGGERS,
    TAGGING_REFERENCE_TRIGGERS,
)

_WRITTEN_EMPTY = """IF NOT EXISTS (SELECT FROM written) THEN
                RETURN NULL;
            END IF;"""
# old_rows is only there for UPDATE and DELETE, new_rows for INSERT and UPDATE; PL/pgSQL plans each
# branch when it first runs, so a branch naming a table its trigger lacks is never planned.
_ROWS_EMPTY = """IF TG_OP = 'INSERT' THEN
            IF NOT EXISTS (SELECT FROM new_rows) THEN
                RETURN NULL;
            END IF;
        ELSIF NOT EXISTS (SELECT FROM old_rows) THEN
            RETURN NULL;
        END IF;"""

# function -> the test put first in its body
_GUARDED: dict[str, str] = {
    "crm_segment_members_check_segment": _WRITTEN_EMPTY,
    "crm_segment_members_check_profile": _WRITTEN_EMPTY,
    "crm_consent_changes_check_profile": _WRITTEN_EMPTY,
    "crm_segment_events_check_profile": _WRITTEN_EMPTY,
    "crm_segment_events_check_segment": _WRITTEN_EMPTY,
    "crm_workflow_enrollments_check_profile": _WRITTEN_EMPTY,
    "crm_workflow_enrollments_check_workflow": _WRITTEN_EMPTY,
    "crm_profile_tags_check_profile": _WRITTEN_EMPTY,
    "crm_profile_tags_check_tag": _WRITTEN_EMPTY,
    "crm_tag_events_check_profile": _WRITTEN_EMPTY,
    "crm_segment_members_count_sources": _ROWS_EMPTY,
    "crm_segment_events_count_days": _ROWS_EMPTY,
}

_FUNCTION = re.compile(r"CREATE OR REPLACE FUNCTION (\w+)\(\)")
_BEGIN = re.compile(r"\bBEGIN\b")


def _guarded(statement: str, test: str) -> str:
    head, body = _BEGIN.split(statement, maxsplit=1)
    return f"{head}BEGIN\n            {test}{body}"


def _originals() -> dict[str, str]:
    on_members, _ = MEMBER_SEGMENT_TRIGGERS["postgresql"]
    sources = (*on_members, *MEMBER_CONSENT_PROFILE_TRIGGERS["postgresql"],
               *HISTORY_REFERENCE_TRIGGERS["postgresql"], *TAGGING_REFERENCE_TRIGGERS["postgresql"],
               *SEGMENT_SOURCE_TRIGGERS["postgresql"], *DAY_COUNT_TRIGGERS["postgresql"])
    found = {match.group(1): statement for statement in sources
             if (match := _FUNCTION.search(statement)) and match.group(1) in _GUARDED}
    missing = set(_GUARDED) - set(found)
    assert not missing, f"no definition found for {sorted(missing)}"
    return {name: found[name] for name in _GUARDED}


_ORIGINALS = _originals()
EMPTY_STATEMENT_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "postgresql": tuple(_guarded(statement, _GUARDED[name]) for name, statement in _ORIGINALS.items())}
# What the functions were before (a downgrade puts them back).
FUNCTIONS_BEFORE: dict[str, tuple[str, ...]] = {"postgresql": tuple(_ORIGINALS.values())}

run_after_create_all(EMPTY_STATEMENT_FUNCTIONS)

"""Whatever rule the validator accepts compiles and runs on SQLite and on PostgreSQL.

Valid rules (tests/segments/strategies.py) have some of their values swapped for extremes: numbers
beyond 64 bits, infinities, dates at the calendar's ends, text with NUL characters or unpaired
surrogates. Each document is either refused with a RuleError or runs on both stores without error.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from crm_segments.db import make_engine
from crm_segments.segments.compiler import compile_rule
from crm_segments.segments.rules import RuleError, parse_rule
from tests.databases import postgres_reachable, skip_or_fail

from .strategies import rule

NOW = dt.datetime(2024, 2, 29, 23, 59, 59, tzinfo=dt.UTC)
EXTREMES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**31, 2**31 - 1, 2**63, 2**63 - 1, -(2**63) - 1, 10**20]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["0001-01-01", "9999-12-31", "2023-02-29", "999999999999.99", "1e400", "-0.001",
                     "a\x00b", "\ud800", "", " " * 600]),
    st.text(max_size=8),
    st.booleans(),
    st.none(),
)


@st.composite
def extreme_rules(draw: Any) -> Any:
    def mutate(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: mutate(value) for key, value in node.items()}
        if isinstance(node, list):
            return [mutate(value) for value in node]
        return draw(EXTREMES) if draw(st.integers(0, 3)) == 0 else node

    return mutate(draw(rule()))


@pytest.fixture(scope="module")
def engines(request: pytest.FixtureRequest) -> Iterator[dict[str, Engine]]:
    urls = {"sqlite": str(request.getfixturevalue("sqlite_url"))}
    reason = postgres_reachable()
    if reason is None:
        urls["postgresql"] = str(request.getfixturevalue("postgresql_url"))
    else:
        skip_or_fail(reason)
    made = {name: make_engine(url) for name, url in urls.items()}
    yield made
    for engine in made.values():
        engine.dispose()


@settings(max_examples=int(os.environ.get("CRM_RULE_EXAMPLES", "150")), deadline=None, derandomize=True,
          database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(doc=extreme_rules())
@example(doc={"records": "quotes", "count": {"op": "gte", "value": 10**20}})
@example(doc={"records": "jobs", "count": {"op": "between", "value": [0, 2**63]}})
@example(doc={"segment": 10**20})
@example(doc={"field": "region", "op": "eq", "value": "a\x00"})
@example(doc={"field": "region", "op": "in", "value": ["\udc00"]})
def test_an_accepted_rule_runs_on_both_stores(engines: dict[str, Engine], doc: Any) -> None:
    try:
        parsed = parse_rule(doc)
    except RuleError:
        return  # refused, naming the node: nothing is stored
    for backend, engine in engines.items():
        with engine.connect() as connection:
            try:
                list(connection.scalars(compile_rule(parsed, now=NOW)))
            except Exception as exc:
                raise AssertionError(f"{backend} cannot run the accepted rule {doc!r}: {exc}") from exc

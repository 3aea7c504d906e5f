"""Fixtures of the segment tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from tests.segments.query_world import committed_rows


@pytest.fixture
def committed(engine: Engine) -> Iterator[list[int]]:
    """The ids of five profiles committed outside the test's transaction, with a user and an API key
    whose hashes are secrets (tests/segments/query_world.py). Ask for it before anything the test writes
    in its own transaction: on SQLite that transaction holds the write lock from its first write."""
    with committed_rows(engine) as rows:
        yield rows.profile_ids

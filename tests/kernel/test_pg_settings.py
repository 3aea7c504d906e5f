"""Planner settings for a stretch of a transaction, restored after it."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from crm_segments.kernel.pg_settings import local_settings


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_settings_hold_inside_and_are_restored_after(session: Session, backend: str) -> None:
    def current() -> tuple[str | None, str | None]:
        row = session.execute(text("SELECT current_setting('enable_nestloop'), current_setting('jit')")).one()
        return row[0], row[1]

    session.execute(text("SET LOCAL jit = on"))
    before = current()
    with local_settings(session, enable_nestloop="off", jit="off"):
        assert current() == ("off", "off")
    assert current() == before == ("on", "on")


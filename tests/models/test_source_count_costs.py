"""The members' acquisition-source counts plan with their own page costs on PostgreSQL
(crm_segments/models/source_count_costs.py), whatever the writer's session sets, and still count."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Table, delete, insert, select, text
from sqlalchemy.orm import Session

from crm_segments.models import SegmentMember, SegmentSource
from tests.factories import ProfileFactory
from tests.segments.test_refresh import make_segment

NOW = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
MEMBERS: Table = SegmentMember.__table__  # type: ignore[assignment]
SOURCES: Table = SegmentSource.__table__  # type: ignore[assignment]


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_the_source_counts_keep_their_page_cost_and_count(session: Session) -> None:
    settings = session.scalar(text("SELECT proconfig FROM pg_proc WHERE proname = "
                                   "'crm_segment_members_count_sources'"))
    assert settings == ["random_page_cost=1.1"]

    profiles = ProfileFactory.create_batch(3, acquisition_source="web")
    segment = make_segment(session, name="Source costs", kind="static", rule={})
    session.flush()
    session.execute(text("SET LOCAL random_page_cost = 40"))  # the writer's own setting
    session.execute(insert(MEMBERS), [{"segment_id": segment.id, "profile_id": p.id, "entered_at": NOW}
                                      for p in profiles])
    session.execute(delete(MEMBERS).where(MEMBERS.c.profile_id == profiles[0].id))
    assert session.scalar(select(SOURCES.c.members).where(SOURCES.c.segment_id == segment.id,
                                                          SOURCES.c.source == "web")) == 2
    assert session.scalar(text("SHOW random_page_cost")) == "40"

"""A level of segments refreshed together (PostgreSQL) takes the locks it can get without waiting:
a writer that holds one of the level's segments and waits for another cannot deadlock with it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.engine import Engine

from crm_segments.db import make_engine, make_session_factory
from crm_segments.models import Profile, Segment
from crm_segments.segments.refresh import refresh_many
from tests.change_log import change_log_restored

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def committed(postgresql_url: str) -> Iterator[tuple[Engine, list[int]]]:
    """Two live segments and a few profiles, committed (another connection must see them), removed
    after with the change log rows and refresh marks the test's writes and refreshes left, so later
    tests find the database as this one found it."""
    # A lock wait of the refresh fails within a second instead of hanging the test.
    engine = make_engine(postgresql_url, connect_args={"options": "-c lock_timeout=1000"})
    tag = uuid.uuid4().hex[:8]
    with change_log_restored(engine):
        with make_session_factory(engine)() as session:
            profiles = [Profile(external_id=f"LOCK-{tag}-{n}", region="California" if n % 2 else "Texas")
                        for n in range(6)]
            segments = [Segment(name=f"Level lock {tag} {n}", kind="live",
                                rule={"field": "region", "op": "eq", "value": region})
                        for n, region in enumerate(("California", "Texas"))]
            session.add_all([*profiles, *segments])
            session.commit()
            ids, profile_ids = [s.id for s in segments], [p.id for p in profiles]
        try:
            yield engine, ids
        finally:
            with engine.begin() as connection:
                connection.execute(delete(Segment).where(Segment.id.in_(ids)))
                connection.execute(delete(Profile).where(Profile.id.in_(profile_ids)))
    engine.dispose()


@pytest.mark.postgres
def test_a_level_refresh_skips_a_segment_another_writer_holds(committed: tuple[Engine, list[int]],
                                                              caplog: pytest.LogCaptureFixture) -> None:
    engine, (held, free) = committed
    factory = make_session_factory(engine)
    refresh_many(factory, [held, free], now=NOW, full=True)
    with engine.begin() as connection:
        connection.execute(text("UPDATE crm_profiles SET region = 'Texas' WHERE external_id LIKE 'LOCK-%' "
                                "AND region = 'California' AND id = (SELECT min(id) FROM crm_profiles "
                                "WHERE external_id LIKE 'LOCK-%' AND region = 'California')"))

    with engine.connect() as writer:
        writer.begin()
        writer.execute(select(Segment.id).where(Segment.id == held).with_for_update())
        later = NOW + dt.timedelta(hours=1)
        results = {r.segment_id: r for r in refresh_many(factory, [held, free], now=later)}
        writer.rollback()

    # The level did not wait for the held segment (a wait ran out of lock time and fell back to one
    # at a time); the free one was refreshed with it, the held one waited its turn alone and ran out
    # of lock time there, recorded as its own error.
    assert "refreshing each alone" not in caplog.text
    assert results[free].error is None and not results[free].full
    assert results[free].entered == 1
    assert results[held].error is not None

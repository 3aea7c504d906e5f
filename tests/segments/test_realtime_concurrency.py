"""Near-real-time re-evaluation against another writer of the same segment on PostgreSQL (real
commits, separate connections): it waits for the segment's lock and diffs from what that writer
committed, never from the snapshot it read before."""

from __future__ import annotations

import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select, text

import crm_segments.models  # noqa: F401
from crm_segments.db import Base, make_engine, make_session_factory
from crm_segments.models import Profile, Segment, SegmentEvent, SegmentMember
from crm_segments.segments.membership import Diff
from crm_segments.segments.realtime import reevaluate_profiles
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail

NOW = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)
IN_ONTARIO = {"field": "region", "op": "eq", "value": "Ontario"}


def _waiting_for_a_lock(engine: object, timeout: float = 10.0) -> bool:
    """Whether some other connection waits for a lock, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    with make_session_factory(engine)() as watcher:  # type: ignore[arg-type]
        while time.monotonic() < deadline:
            waiting = watcher.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"))
            watcher.rollback()
            if waiting:
                return True
            time.sleep(0.02)
    return False


@pytest.mark.postgres
@pytest.mark.parametrize("held_by", ["entered", "exited"])
def test_a_change_waits_for_the_segment_another_writer_holds(held_by: str) -> None:
    if reason := postgres_reachable():
        skip_or_fail(reason)
    with private_postgres_database() as url:
        engine = make_engine(url, pool_size=4)
        try:
            Base.metadata.create_all(engine)
            factory = make_session_factory(engine)
            with factory() as session, session.begin():
                segment = Segment(name="Ontario", kind="live", rule=IN_ONTARIO, version=1)
                # Entering: the profile now matches and is no member. Exiting: the reverse.
                profile = Profile(external_id="P1", region="Ontario" if held_by == "entered" else "Quebec")
                session.add_all([segment, profile])
                session.flush()
                if held_by == "exited":
                    session.add(SegmentMember(segment_id=segment.id, profile_id=profile.id, entered_at=NOW))
                    segment.member_count = 1
                segment_id, profile_id = segment.id, profile.id

            # Another writer (a refresh) holds the segment and makes the same change, uncommitted.
            with factory() as holder, ThreadPoolExecutor(max_workers=1) as pool:
                holder.execute(select(Segment.id).where(Segment.id == segment_id).with_for_update())
                if held_by == "entered":
                    holder.add(SegmentMember(segment_id=segment_id, profile_id=profile_id, entered_at=NOW))
                    holder.execute(text("UPDATE crm_segments SET member_count = 1 WHERE id = :id"),
                                   {"id": segment_id})
                else:
                    holder.execute(text("DELETE FROM crm_segment_members WHERE segment_id = :id"),
                                   {"id": segment_id})
                    holder.execute(text("UPDATE crm_segments SET member_count = 0 WHERE id = :id"),
                                   {"id": segment_id})
                holder.flush()

                def reevaluate() -> dict[int, Diff]:
                    with factory() as session, session.begin():
                        return reevaluate_profiles(session, [profile_id], now=NOW)

                waiter = pool.submit(reevaluate)
                assert _waiting_for_a_lock(engine), "the re-evaluation did not wait for the segment"
                assert not waiter.done()
                holder.commit()
                changes = waiter.result(timeout=30)

            # The change was already made: no second insert (no key violation), no event, no count.
            assert changes == {}
            with factory() as session:
                expected = {profile_id} if held_by == "entered" else set()
                assert set(session.scalars(select(SegmentMember.profile_id))) == expected
                assert session.scalar(select(func.count()).select_from(SegmentEvent)) == 0
                assert session.scalar(select(Segment.member_count)) == len(expected)
        finally:
            engine.dispose()

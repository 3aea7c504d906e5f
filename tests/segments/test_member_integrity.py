"""Segment members always refer to an existing segment and profile, and go with them.

``crm_segment_members.segment_id`` is enforced by triggers instead of a foreign key (models/segments.py),
both in a schema built from the models and in a migrated one; ``profile_id`` keeps its foreign key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_segments import migrate
from crm_segments.db import make_engine, make_session_factory
from crm_segments.models import Profile, Segment, SegmentMember
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail
from tests.factories import ProfileFactory, bind_session
from tests.segments.test_refresh import NOW, make_segment, members

MEMBERS = SegmentMember.__table__


def _member_rows(session: Session, segment_id: int) -> int:
    return session.scalar(select(func.count()).select_from(MEMBERS).where(
        MEMBERS.c.segment_id == segment_id)) or 0


def check_integrity(session: Session) -> None:
    segment = make_segment(session)
    other = make_segment(session, name="Other")
    profiles = [ProfileFactory() for _ in range(3)]
    session.execute(insert(MEMBERS), [{"segment_id": s.id, "profile_id": p.id, "entered_at": NOW}
                                      for s in (segment, other) for p in profiles])
    missing_segment = session.scalar(select(func.max(Segment.id))) + 100
    missing_profile = session.scalar(select(func.max(Profile.id))) + 100

    refused = [
        insert(MEMBERS).values(segment_id=missing_segment, profile_id=profiles[0].id, entered_at=NOW),
        insert(MEMBERS).values(segment_id=segment.id, profile_id=missing_profile, entered_at=NOW),
        update(MEMBERS).where(MEMBERS.c.segment_id == segment.id).values(segment_id=missing_segment),
        update(Segment.__table__).where(Segment.id == segment.id).values(id=missing_segment),
    ]
    for statement in refused:
        with pytest.raises(IntegrityError), session.begin_nested():
            session.execute(statement)
    assert _member_rows(session, segment.id) == 3

    session.execute(delete(Segment.__table__).where(Segment.id == segment.id))
    assert _member_rows(session, segment.id) == 0
    assert members(session, other) == {p.id for p in profiles}  # the other segment keeps its own

    session.execute(delete(Profile.__table__).where(Profile.id == profiles[0].id))
    assert members(session, other) == {profiles[1].id, profiles[2].id}


def test_members_refer_to_existing_segments_and_profiles(session: Session) -> None:
    check_integrity(session)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrated.db'}"
        migrate.upgrade(url)
        yield url
        return
    reason = postgres_reachable()
    if reason:
        skip_or_fail(reason)
    with private_postgres_database() as url:
        migrate.upgrade(url)
        yield url


def test_a_migrated_database_keeps_the_same_integrity(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        with make_session_factory(engine)() as session:
            with bind_session(session):
                check_integrity(session)
            session.rollback()
    finally:
        engine.dispose()

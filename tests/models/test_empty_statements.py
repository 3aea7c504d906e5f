"""On PostgreSQL a statement that writes no row leaves its statement triggers nothing to do
(crm_segments/models/empty_statements.py), and one that writes rows still checks and counts them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Table, delete, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_segments.models import SegmentDay, SegmentEvent, SegmentMember, SegmentSource
from crm_segments.models.empty_statements import EMPTY_STATEMENT_FUNCTIONS
from tests.databases import ON_POSTGRESQL
from tests.factories import ProfileFactory
from tests.segments.test_refresh import make_segment

NOW = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
MEMBERS: Table = SegmentMember.__table__  # type: ignore[assignment]
EVENTS: Table = SegmentEvent.__table__  # type: ignore[assignment]




def _advisory_locks(session: Session) -> int:
    return session.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                               "AND pid = pg_backend_pid()")) or 0


def _profile_and_segment(session: Session) -> tuple[int, int]:
    profile = ProfileFactory()
    segment = make_segment(session, name="Empty statements", kind="static", rule={})
    session.flush()
    return profile.id, segment.id


@ON_POSTGRESQL
def test_every_guarded_function_is_in_the_schema(session: Session) -> None:
    names = session.scalars(text(
        "SELECT proname FROM pg_proc WHERE prosrc LIKE '%NOT EXISTS (SELECT FROM written)%' "
        "OR prosrc LIKE '%NOT EXISTS (SELECT FROM new_rows)%'")).all()
    assert len(set(names)) == len(EMPTY_STATEMENT_FUNCTIONS["postgresql"]), names


@ON_POSTGRESQL
def test_an_empty_insert_checks_nothing_and_a_real_one_still_checks(session: Session) -> None:
    profile, segment = _profile_and_segment(session)
    assert _advisory_locks(session) == 0
    session.execute(insert(MEMBERS).from_select(
        ["segment_id", "profile_id", "entered_at"],
        select(MEMBERS.c.segment_id, MEMBERS.c.profile_id, MEMBERS.c.entered_at).where(text("false"))))
    session.execute(insert(EVENTS).from_select(
        ["segment_id", "profile_id", "kind", "occurred_at"],
        select(EVENTS.c.segment_id, EVENTS.c.profile_id, EVENTS.c.kind, EVENTS.c.occurred_at)
        .where(text("false"))))
    # The profile checks take the shared advisory lock of the profile references only for rows.
    assert _advisory_locks(session) == 0

    session.execute(insert(MEMBERS).values(segment_id=segment, profile_id=profile, entered_at=NOW))
    assert _advisory_locks(session) == 1
    with pytest.raises(IntegrityError, match="no profile with id"), session.begin_nested():
        session.execute(insert(MEMBERS).values(segment_id=segment, profile_id=profile + 10_000,
                                               entered_at=NOW))


@ON_POSTGRESQL
def test_counts_move_with_rows_and_not_with_empty_statements(session: Session) -> None:
    profile, segment = _profile_and_segment(session)
    sources: Table = SegmentSource.__table__  # type: ignore[assignment]
    days: Table = SegmentDay.__table__  # type: ignore[assignment]

    def counts() -> tuple[int | None, int | None]:
        return (session.scalar(select(sources.c.members).where(sources.c.segment_id == segment)),
                session.scalar(select(days.c.entered).where(days.c.segment_id == segment)))

    session.execute(insert(MEMBERS).values(segment_id=segment, profile_id=profile, entered_at=NOW))
    session.execute(insert(EVENTS).values(segment_id=segment, profile_id=profile, kind="entered",
                                          occurred_at=NOW))
    assert counts() == (1, 1)
    session.execute(delete(MEMBERS).where(MEMBERS.c.segment_id == segment,
                                          MEMBERS.c.profile_id == profile + 1))
    session.execute(delete(EVENTS).where(EVENTS.c.segment_id == segment,
                                         EVENTS.c.profile_id == profile + 1))
    assert counts() == (1, 1)
    session.execute(delete(MEMBERS).where(MEMBERS.c.segment_id == segment))
    session.execute(delete(EVENTS).where(EVENTS.c.segment_id == segment))
    assert counts() == (0, 0)

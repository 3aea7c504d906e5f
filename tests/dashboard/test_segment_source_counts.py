"""Members per acquisition source (crm_segment_sources, kept by triggers) agree with a count of the
members joined to their profiles after refreshes, static-list edits, changed sources, an erasure, a
plain delete and a segment's deletion; the segment page's shares read them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from crm_segments.models import Profile, Segment, SegmentMember, SegmentSource
from crm_segments.privacy.erasure import erase_profile
from crm_segments.segments.acquisition import UNKNOWN, source_shares
from crm_segments.segments.refresh import refresh_segment
from crm_segments.segments.static_lists import change_by_ids
from tests.databases import rows_written
from tests.factories import ProfileFactory

NOW = dt.datetime(2030, 3, 1, 9, tzinfo=dt.UTC)


def recount(session: Session) -> dict[tuple[int, str], int]:
    rows = session.execute(
        select(SegmentMember.segment_id, Profile.acquisition_source, func.count())
        .join(Profile, Profile.id == SegmentMember.profile_id)
        .group_by(SegmentMember.segment_id, Profile.acquisition_source))
    return {(segment_id, source or ""): n for segment_id, source, n in rows}


def agree(session: Session) -> dict[tuple[int, str], int]:
    session.flush()
    session.expire_all()
    kept = {(row.segment_id, row.source): row.members
            for row in session.scalars(select(SegmentSource)) if row.members}
    counted = recount(session)
    assert kept == counted
    return counted


def test_source_counts_follow_members_and_profiles(session: Session, tmp_path: Path) -> None:
    ads = [ProfileFactory(region="North", acquisition_source="ads") for _ in range(3)]
    referral = ProfileFactory(region="North", acquisition_source="referral")
    unknown = ProfileFactory(region="North", acquisition_source=None)
    ProfileFactory(region="South", acquisition_source="ads")
    live = Segment(name="North", kind="live", rule={"field": "region", "op": "eq", "value": "North"})
    static = Segment(name="Picked", kind="static")
    session.add_all([live, static])
    session.flush()
    refresh_segment(session, live, now=NOW)  # the first fill, in one statement
    change_by_ids(session, static, [ads[0].id, referral.id], action="add", now=NOW)
    assert agree(session) == {(live.id, "ads"): 3, (live.id, "referral"): 1, (live.id, ""): 1,
                              (static.id, "ads"): 1, (static.id, "referral"): 1}

    # A member's source changes (to another, to none); a profile leaves on a refresh.
    session.execute(update(Profile).where(Profile.id == ads[0].id).values(acquisition_source="referral"))
    session.execute(update(Profile).where(Profile.id == referral.id).values(acquisition_source=None))
    session.execute(update(Profile).where(Profile.id == ads[1].id).values(region="South"))
    refresh_segment(session, live, now=NOW + dt.timedelta(hours=1))
    assert agree(session) == {(live.id, "ads"): 1, (live.id, "referral"): 1, (live.id, ""): 2,
                              (static.id, "referral"): 1, (static.id, ""): 1}

    with session.begin_nested() as savepoint:  # rolled back: the counts stay
        change_by_ids(session, static, [ads[0].id], action="remove", now=NOW)
        savepoint.rollback()
    assert agree(session)[(static.id, "referral")] == 1

    # Profiles deleted (an erasure, a plain delete) take their memberships off every count.
    erase_profile(session=session, profile_id=ads[0].id, outbox_dir=tmp_path, user_id=None, via="cli")
    session.execute(delete(Profile).where(Profile.id == unknown.id))
    assert agree(session) == {(live.id, "ads"): 1, (live.id, ""): 1, (static.id, ""): 1}
    session.delete(static)
    session.flush()
    assert agree(session) == {(live.id, "ads"): 1, (live.id, ""): 1}

    shares = source_shares(session, live.id)
    assert (shares.members, shares.base) == (2, 4)
    assert {(row.source, row.members, row.base) for row in shares.rows} == {("ads", 1, 3), (UNKNOWN, 1, 1)}


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_bulk_source_change_writes_each_count_once(session: Session) -> None:
    """On PostgreSQL a statement's changed sources are counted once per statement: a row trigger
    updated the same count once per profile, each update walking the versions made before it."""
    members = [ProfileFactory(region="North", acquisition_source="ads") for _ in range(60)]
    live = Segment(name="North", kind="live", rule={"field": "region", "op": "eq", "value": "North"})
    session.add(live)
    session.flush()
    refresh_segment(session, live, now=NOW)
    before = rows_written(session, "crm_segment_sources")
    session.execute(update(Profile).where(Profile.id.in_([p.id for p in members]))
                    .values(acquisition_source="referral"))
    assert rows_written(session, "crm_segment_sources") - before == 2  # "ads" down, "referral" up
    assert agree(session) == {(live.id, "referral"): 60}


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_bulk_delete_of_profiles_takes_each_count_once(session: Session) -> None:
    """Deleted profiles' memberships are noted row by row and taken off once per statement; a second
    delete in the same transaction takes off only its own."""
    members = [ProfileFactory(region="North", acquisition_source="ads") for _ in range(60)]
    live = Segment(name="North", kind="live", rule={"field": "region", "op": "eq", "value": "North"})
    session.add(live)
    session.flush()
    refresh_segment(session, live, now=NOW)
    before = rows_written(session, "crm_segment_sources")
    session.execute(delete(Profile).where(Profile.id.in_([p.id for p in members[:40]])))
    assert rows_written(session, "crm_segment_sources") - before == 1
    assert agree(session) == {(live.id, "ads"): 20}
    session.execute(delete(Profile).where(Profile.id.in_([p.id for p in members[40:50]])))
    assert agree(session) == {(live.id, "ads"): 10}

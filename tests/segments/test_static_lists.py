"""Static lists: by ids, by a bulk selection, by CSV with a per-line report; events name who and how."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import Profile, SegmentEvent, SegmentSizePoint
from crm_segments.segments.static_lists import change_by_csv, change_by_ids, change_members
from tests.factories import AdminFactory, ProfileFactory
from tests.segments.test_refresh import NOW, make_segment, members


def static_list(session: Session):  # type: ignore[no-untyped-def]
    return make_segment(session, name="Trade show leads", kind="static", rule=None)


def test_add_and_remove_by_ids_with_events(session: Session) -> None:
    segment = static_list(session)
    admin = AdminFactory()
    a, b, c = (ProfileFactory() for _ in range(3))

    diff = change_by_ids(session, segment, [a.id, b.id, b.id], action="add", now=NOW, actor_id=admin.id)
    again = change_by_ids(session, segment, [a.id, c.id], action="add", now=NOW)
    removed = change_by_ids(session, segment, [a.id], action="remove", now=NOW)

    assert (diff.entered, again.entered, removed.exited) == (2, 1, 1)
    assert members(session, segment) == {b.id, c.id}
    session.refresh(segment)
    assert segment.member_count == 2
    first = session.scalars(select(SegmentEvent).where(SegmentEvent.segment_id == segment.id)
                            .order_by(SegmentEvent.id)).first()
    assert first is not None and (first.source, first.actor_id) == ("manual", admin.id)
    sizes = session.scalars(select(SegmentSizePoint.size).where(SegmentSizePoint.segment_id == segment.id)
                            .order_by(SegmentSizePoint.id)).all()
    assert sizes == [2, 3, 2]


def test_unknown_id_changes_nothing(session: Session) -> None:
    segment = static_list(session)
    a = ProfileFactory()
    with pytest.raises(ValidationFailed, match="no profile with id 999999"):
        change_by_ids(session, segment, [a.id, 999999], action="add", now=NOW)
    assert members(session, segment) == set()


def test_bulk_selection(session: Session) -> None:
    segment = static_list(session)
    inside = [ProfileFactory(region="Yukon") for _ in range(2)]
    ProfileFactory(region="Alberta")

    diff = change_members(session, segment, select(Profile.id).where(Profile.region == "Yukon"),
                          action="add", now=NOW, source="bulk")

    assert diff.entered == 2 and members(session, segment) == {p.id for p in inside}


def test_csv_reports_unmatched_lines_and_applies_the_rest(session: Session) -> None:
    segment = static_list(session)
    ann, bob = ProfileFactory(email="ann@example.com"), ProfileFactory(email="bob@example.com")
    content = ("name,email\nAnn,ann@EXAMPLE.com\nZed,zed@example.com\n\n"
               "Bob,bob@example.com\nYan,yan@example.com\n")

    report = change_by_csv(session, segment, content.encode(), action="add", now=NOW)

    assert members(session, segment) == {ann.id, bob.id}
    assert (report.column, report.rows, report.matched_rows, report.unmatched_count) == ("email", 4, 2, 2)
    assert report.unmatched == [(3, "zed@example.com"), (6, "yan@example.com")]
    assert report.diff.entered == 2
    by_external_id = f"external_id\n{ann.external_id}\n"
    removal = change_by_csv(session, segment, by_external_id, action="remove", now=NOW)
    assert removal.diff.exited == 1 and members(session, segment) == {bob.id}


@pytest.mark.parametrize(("content", "message"), [
    ("email\nann@example.com\nnot-an-email\n", "not a valid email address"),
    ("name\nAnn\n", "needs exactly one column named email or external_id"),
    (b"email\n\xff\xfe\n", "is not UTF-8"),
])
def test_malformed_csv_changes_nothing(session: Session, content: str | bytes, message: str) -> None:
    segment = static_list(session)
    ProfileFactory(email="ann@example.com")
    with pytest.raises(ValidationFailed, match=message):
        change_by_csv(session, segment, content, action="add", now=NOW)
    assert members(session, segment) == set()


def test_live_segments_are_not_edited_by_hand(session: Session) -> None:
    segment = make_segment(session)
    profile = ProfileFactory()
    with pytest.raises(ValidationFailed, match="only static lists"):
        change_by_ids(session, segment, [profile.id], action="add", now=NOW)

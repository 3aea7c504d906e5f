from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import Conflict, NotFound, ValidationFailed
from crm_segments.models import (
    BulkOperation,
    BulkOperationItem,
    ProfileTag,
    ProfileTagSuppression,
    QuoteTag,
    SegmentMember,
)
from crm_segments.selection import targets as selection
from crm_segments.tagging.bulk import bulk_tag, undo_bulk_operation
from crm_segments.tagging.manual import add_tag, remove_tag
from tests.factories import ProfileFactory, ProfileTagFactory, QuoteFactory, TagFactory, UserFactory

from .helpers import event_count, events, make_rule, tagged_ids


def _snapshot(session: Session) -> set[tuple[object, ...]]:
    rows = session.execute(select(ProfileTag.entity_id, ProfileTag.tag_id, ProfileTag.source,
                                  ProfileTag.added_by_id, ProfileTag.added_at, ProfileTag.rule_id))
    return {tuple(r) for r in rows}


def test_bulk_add_by_ids_counts_changes_and_re_adding_is_a_no_op(session: Session) -> None:
    user = UserFactory()
    profiles = ProfileFactory.create_batch(4)
    tag = TagFactory()
    ProfileTagFactory(profile=profiles[0], tag=tag)
    chosen = selection.by_ids(session=session, entity_type="profile", ids=[p.id for p in profiles])
    result = bulk_tag(session=session, action="add", selection=chosen, tags=[tag], user_id=user.id)
    assert (result.selected, result.changed) == (4, 3)
    assert tagged_ids(session, tag) == {p.id for p in profiles}
    added = events(session, bulk_operation_id=result.operation.id)
    assert sorted(e.entity_id for e in added) == sorted(p.id for p in profiles[1:])
    assert {(e.action, e.source, e.user_id, e.profile_id == e.entity_id) for e in added} == {
        ("added", "bulk", user.id, True)}
    again = bulk_tag(session=session, action="add", selection=chosen, tags=[tag], user_id=user.id)
    assert again.changed == 0 and again.operation.changed_count == 0
    assert event_count(session, bulk_operation_id=again.operation.id) == 0


def test_bulk_with_several_tags_reports_each(session: Session) -> None:
    profiles = ProfileFactory.create_batch(3)
    gold, vip = TagFactory(), TagFactory()
    ProfileTagFactory(profile=profiles[0], tag=vip)
    chosen = selection.by_ids(session=session, entity_type="profile", ids=[p.id for p in profiles])
    result = bulk_tag(session=session, action="add", selection=chosen, tags=[gold, vip])
    assert [(t.tag.id, t.changed) for t in result.per_tag] == [(gold.id, 3), (vip.id, 2)]
    assert result.operation.tags == [{"id": gold.id, "name": gold.name, "changed": 3},
                                     {"id": vip.id, "name": vip.name, "changed": 2}]


def test_bulk_by_filter_tags_every_matching_profile(session: Session) -> None:
    north = ProfileFactory.create_batch(3, region="North", lifecycle_status="customer")
    ProfileFactory(region="North", lifecycle_status="lead")
    ProfileFactory(region="South", lifecycle_status="customer")
    tag = TagFactory()
    chosen = selection.by_filter(region="North", lifecycle="customer")
    result = bulk_tag(session=session, action="add", selection=chosen, tags=[tag])
    assert result.changed == 3 and tagged_ids(session, tag) == {p.id for p in north}
    assert result.operation.selection == {"region": "North", "lifecycle": "customer"}
    assert "region 'North'" in result.operation.selection_description


def test_bulk_by_segment_uses_its_members(session: Session) -> None:
    from crm_segments.models import Segment

    members = ProfileFactory.create_batch(2)
    ProfileFactory()
    segment = Segment(name="Static picks", kind="static")
    session.add(segment)
    session.flush()
    session.add_all([SegmentMember(segment_id=segment.id, profile_id=p.id) for p in members])
    tag = TagFactory()
    result = bulk_tag(session=session, action="add", selection=selection.by_segment(
        session=session, segment_id=segment.id), tags=[tag])
    assert result.changed == 2 and tagged_ids(session, tag) == {p.id for p in members}
    with pytest.raises(NotFound, match="segment_id: no segment with id 999999"):
        selection.by_segment(session=session, segment_id=999999)


def test_bulk_on_records_and_unknown_ids(session: Session) -> None:
    quotes = QuoteFactory.create_batch(2)
    tag = TagFactory()
    with pytest.raises(ValidationFailed, match="ids: no quote with id 999999"):
        selection.by_ids(session=session, entity_type="quote", ids=[quotes[0].id, 999999])
    with pytest.raises(ValidationFailed, match=r"ids\[1\]: must be a positive whole number"):
        selection.by_ids(session=session, entity_type="quote", ids=[quotes[0].id, "x"])
    chosen = selection.by_ids(session=session, entity_type="quote", ids=[q.id for q in quotes])
    result = bulk_tag(session=session, action="add", selection=chosen, tags=[tag])
    assert result.changed == 2 and tagged_ids(session, tag, "quote") == {q.id for q in quotes}
    assert {e.profile_id for e in events(session, entity_type="quote")} == {q.profile_id for q in quotes}
    undo = undo_bulk_operation(session=session, operation_id=result.operation.id)
    assert undo.reverted == 2 and session.scalar(select(QuoteTag)) is None


def test_undo_of_an_add_removes_exactly_what_it_added(session: Session) -> None:
    user = UserFactory()
    profiles = ProfileFactory.create_batch(4)
    tag, other = TagFactory(), TagFactory()
    ProfileTagFactory(profile=profiles[0], tag=tag)  # there before: must survive the undo
    ProfileTagFactory(profile=profiles[1], tag=other)
    before = _snapshot(session)
    chosen = selection.by_ids(session=session, entity_type="profile", ids=[p.id for p in profiles])
    op = bulk_tag(session=session, action="add", selection=chosen, tags=[tag, other]).operation
    # After the operation someone removes and re-adds one of its taggings by hand: that one stays.
    remove_tag(session=session, entity_type="profile", entity_id=profiles[2].id, tag_id=tag.id)
    add_tag(session=session, entity_type="profile", entity_id=profiles[2].id, tag_id=tag.id, user_id=user.id)
    undo = undo_bulk_operation(session=session, operation_id=op.id, user_id=user.id)
    assert undo.reverted == 2 + 3  # tag: profiles 1 and 3; other: profiles 0, 2, 3
    after = _snapshot(session)
    assert after - before == {(profiles[2].id, tag.id, "manual", user.id,
                               session.get(ProfileTag, (profiles[2].id, tag.id)).added_at, None)}
    assert before - after == set()
    assert op.undone_at is not None and op.undone_by_id == user.id and op.undone_count == 5
    undo_events = [e for e in events(session, bulk_operation_id=op.id) if e.action == "removed"]
    assert len(undo_events) == 5 and {e.user_id for e in undo_events} == {user.id}


def test_undo_of_a_remove_restores_taggings_and_clears_its_suppressions(session: Session) -> None:
    tag = TagFactory()
    rule = make_rule(session, tag)
    creator = UserFactory()
    profiles = ProfileFactory.create_batch(3)
    ProfileTagFactory(profile=profiles[0], tag=tag, source="rule", rule_id=rule.id)
    ProfileTagFactory(profile=profiles[1], tag=tag, source="manual", added_by_id=creator.id)
    before = _snapshot(session)
    chosen = selection.by_ids(session=session, entity_type="profile", ids=[p.id for p in profiles])
    result = bulk_tag(session=session, action="remove", selection=chosen, tags=[tag])
    assert result.changed == 2 and tagged_ids(session, tag) == set()
    # A person removed a tag a rule applies: both entities are now suppressed for that rule's tag.
    suppressed = set(session.scalars(select(ProfileTagSuppression.entity_id)))
    assert suppressed == {profiles[0].id, profiles[1].id}
    undo = undo_bulk_operation(session=session, operation_id=result.operation.id)
    assert undo.reverted == 2 and _snapshot(session) == before
    assert session.scalar(select(ProfileTagSuppression)) is None


def test_undo_of_a_remove_does_not_clear_a_suppression_that_was_there_before(session: Session) -> None:
    tag = TagFactory()
    rule = make_rule(session, tag)
    profile = ProfileFactory()
    session.add(ProfileTagSuppression(entity_id=profile.id, tag_id=tag.id, rule_id=rule.id))
    ProfileTagFactory(profile=profile, tag=tag)
    chosen = selection.by_ids(session=session, entity_type="profile", ids=[profile.id])
    op = bulk_tag(session=session, action="remove", selection=chosen, tags=[tag]).operation
    undo_bulk_operation(session=session, operation_id=op.id)
    assert session.get(ProfileTagSuppression, (profile.id, tag.id)) is not None


def test_undo_twice_is_refused_and_changes_nothing(session: Session) -> None:
    profiles = ProfileFactory.create_batch(2)
    tag = TagFactory()
    chosen = selection.by_ids(session=session, entity_type="profile", ids=[p.id for p in profiles])
    op = bulk_tag(session=session, action="add", selection=chosen, tags=[tag]).operation
    undo_bulk_operation(session=session, operation_id=op.id)
    add_tag(session=session, entity_type="profile", entity_id=profiles[0].id, tag_id=tag.id)
    with pytest.raises(Conflict, match="operation_id: bulk operation .* was already undone"):
        undo_bulk_operation(session=session, operation_id=op.id)
    assert tagged_ids(session, tag) == {profiles[0].id}
    with pytest.raises(NotFound):
        undo_bulk_operation(session=session, operation_id=999999)


def test_the_operation_records_exactly_the_changed_taggings(session: Session) -> None:
    user = UserFactory()
    profiles = ProfileFactory.create_batch(3)
    tag = TagFactory()
    ProfileTagFactory(profile=profiles[0], tag=tag, added_by_id=user.id, source="import")
    chosen = selection.by_ids(session=session, entity_type="profile", ids=[p.id for p in profiles])
    added = bulk_tag(session=session, action="add", selection=chosen, tags=[tag], user_id=user.id).operation
    ours = session.scalars(select(ProfileTag.entity_id).where(ProfileTag.bulk_operation_id == added.id))
    assert sorted(ours) == sorted([profiles[1].id, profiles[2].id])
    removed = bulk_tag(session=session, action="remove", selection=chosen, tags=[tag]).operation
    item = BulkOperationItem
    items = session.execute(select(item.entity_id, item.prev_source, item.prev_added_by_id,
                                   item.prev_bulk_operation_id).where(item.operation_id == removed.id)).all()
    assert sorted(items) == sorted([(profiles[0].id, "import", user.id, None),
                                    (profiles[1].id, "bulk", None, added.id),
                                    (profiles[2].id, "bulk", None, added.id)])


def test_bad_action_or_no_tags_writes_nothing(session: Session) -> None:
    profile = ProfileFactory()
    chosen = selection.by_ids(session=session, entity_type="profile", ids=[profile.id])
    with pytest.raises(ValidationFailed, match="action"):
        bulk_tag(session=session, action="toggle", selection=chosen, tags=[TagFactory()])
    with pytest.raises(ValidationFailed, match="tags: give at least one tag"):
        bulk_tag(session=session, action="add", selection=chosen, tags=[])
    assert session.scalar(select(func.count()).select_from(BulkOperation)) == 0

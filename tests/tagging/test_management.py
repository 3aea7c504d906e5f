from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import Conflict, NotFound, ValidationFailed
from crm_segments.models import AutoTagRule, ProfileTag, ProfileTagSuppression, QuoteTag, Tag
from crm_segments.records.validation import validate
from crm_segments.schemas.tags import TagIn, TagPatch
from crm_segments.tagging.management import (
    create_tag,
    delete_preview,
    delete_tag,
    list_tags,
    merge_tags,
    tag_usage,
    update_tag,
)
from tests.factories import (
    ProfileFactory,
    ProfileTagFactory,
    QuoteFactory,
    QuoteTagFactory,
    TagFactory,
    UserFactory,
)

from .helpers import event_count, events, make_rule, tagged_ids

EARLY = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
LATE = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


def test_create_refuses_a_name_taken_in_another_case(session: Session) -> None:
    user = UserFactory()
    tag = create_tag(session=session, data=TagIn(name="Gold", color="#FFD700", description="Top"),
                     user_id=user.id)
    assert (tag.name, tag.color, tag.created_by_id) == ("Gold", "#ffd700", user.id)
    with pytest.raises(Conflict) as caught:
        create_tag(session=session, data=TagIn(name=" GOLD "))
    assert caught.value.field == "name"


def test_update_renames_recolors_and_describes_checking_every_field_first(session: Session) -> None:
    tag = TagFactory(name="Gold", name_key="gold")
    TagFactory(name="Silver", name_key="silver")
    with pytest.raises(ValidationFailed) as caught:  # the input model names every bad field at once
        validate(TagPatch, {"name": "", "color": "gold", "description": "x" * 501})
    assert [e.field for e in caught.value.errors] == ["name", "color", "description"]
    with pytest.raises(Conflict, match="name: a tag named 'Silver' already exists"):
        update_tag(session=session, tag_id=tag.id, data=TagPatch(name="silver"))
    update_tag(session=session, tag_id=tag.id,
               data=TagPatch(name="GOLD  plus", color="#123456", description="best"))
    assert (tag.name, tag.name_key) == ("GOLD plus", "gold plus")
    assert (tag.color, tag.description) == ("#123456", "best")
    update_tag(session=session, tag_id=tag.id, data=TagPatch(name="gold plus"))  # the same tag, another case
    assert tag.name == "gold plus"
    with pytest.raises(NotFound, match="tag_id"):
        update_tag(session=session, tag_id=999999, data=TagPatch(color="#000000"))


def test_list_counts_per_entity_type_and_creator(session: Session) -> None:
    user = UserFactory(name="Sam Seller")
    tag = TagFactory(created_by_id=user.id)
    unused = TagFactory()
    ProfileTagFactory.create_batch(2, tag=tag)
    QuoteTagFactory(tag=tag)
    make_rule(session, tag)
    summaries = {s.tag.id: s for s in list_tags(session=session)}
    assert summaries[tag.id].counts == {"profile": 2, "quote": 1, "job": 0, "opportunity": 0}
    assert summaries[tag.id].total == 3 and summaries[tag.id].created_by == "Sam Seller"
    assert summaries[tag.id].rules == 1
    assert summaries[unused.id].total == 0 and summaries[unused.id].created_by is None


def test_merge_moves_taggings_without_duplicates_and_audits(session: Session) -> None:
    user = UserFactory()
    target, first, second = TagFactory(), TagFactory(), TagFactory()
    both, only_first, only_second, with_target = ProfileFactory.create_batch(4)
    ProfileTagFactory(profile=both, tag=first, added_at=LATE)
    ProfileTagFactory(profile=both, tag=second, added_at=EARLY, source="import")
    ProfileTagFactory(profile=only_first, tag=first)
    ProfileTagFactory(profile=only_second, tag=second)
    ProfileTagFactory(profile=with_target, tag=target)
    ProfileTagFactory(profile=with_target, tag=first)
    quote = QuoteFactory()
    QuoteTagFactory(quote=quote, tag=second)
    rule = make_rule(session, first)
    session.add(ProfileTagSuppression(entity_id=only_first.id, tag_id=first.id, rule_id=rule.id))
    session.flush()
    result = merge_tags(session=session, source_ids=[first.id, second.id], target_id=target.id,
                        user_id=user.id)
    assert result.moved == {"profile": 3, "quote": 1}
    assert result.already_tagged == {"profile": 1, "quote": 0}
    assert tagged_ids(session, target) == {both.id, only_first.id, only_second.id, with_target.id}
    assert tagged_ids(session, target, "quote") == {quote.id}
    # The entity that had both sources keeps the earliest tagging's origin.
    kept = session.get(ProfileTag, (both.id, target.id))
    assert kept is not None and (kept.source, kept.added_at) == ("import", EARLY)
    assert session.scalars(select(Tag.id).where(Tag.id.in_([first.id, second.id]))).all() == []
    assert session.get(AutoTagRule, rule.id).tag_id == target.id
    assert session.get(ProfileTagSuppression, (only_first.id, target.id)) is not None
    merge_events = events(session, source="merge")
    assert sum(e.action == "removed" for e in merge_events) == 6  # every source tagging
    assert sum(e.action == "added" for e in merge_events) == 4  # every new target tagging
    assert {e.user_id for e in merge_events} == {user.id}


def test_merge_refuses_bad_input(session: Session) -> None:
    tag = TagFactory()
    with pytest.raises(ValidationFailed, match="source_ids: cannot merge a tag into itself"):
        merge_tags(session=session, source_ids=[tag.id], target_id=tag.id)
    with pytest.raises(ValidationFailed, match="source_ids: give at least one"):
        merge_tags(session=session, source_ids=[], target_id=tag.id)
    with pytest.raises(NotFound, match="source_ids: no tag with id 999999"):
        merge_tags(session=session, source_ids=[999999], target_id=tag.id)
    with pytest.raises(NotFound, match="target_id"):
        merge_tags(session=session, source_ids=[tag.id], target_id=999999)


def test_delete_reports_the_count_then_removes_and_audits(session: Session) -> None:
    tag = TagFactory()
    tag_id, name = tag.id, tag.name
    ProfileTagFactory.create_batch(3, tag=tag)
    QuoteTagFactory(tag=tag)
    make_rule(session, tag, name="Golden rule")
    preview = delete_preview(session=session, tag_id=tag.id)
    assert preview.total == 4 and preview.counts["quote"] == 1 and preview.rules == ["Golden rule"]
    assert delete_tag(session=session, tag_id=tag.id, on_use="detach").removed == 4
    assert session.scalar(select(func.count()).select_from(ProfileTag)) == 0
    assert session.scalar(select(func.count()).select_from(QuoteTag)) == 0
    assert session.scalar(select(func.count()).select_from(AutoTagRule)) == 0
    removed = events(session, action="removed")
    assert len(removed) == 4 and {(e.tag_id, e.tag_name) for e in removed} == {(tag_id, name)}
    assert tag_usage(session=session, tag_id=tag_id) == {"profile": 0, "quote": 0, "job": 0, "opportunity": 0}
    assert event_count(session) == 4

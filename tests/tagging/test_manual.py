from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import NotFound, ValidationFailed
from crm_segments.models import Profile, ProfileTag, ProfileTagSuppression, QuoteTag, TagEvent
from crm_segments.tagging.manual import add_tag, remove_tag
from crm_segments.tagging.suppressions import clear_suppression, entity_suppressions
from tests.factories import (
    JobFactory,
    OpportunityFactory,
    ProfileFactory,
    ProfileTagFactory,
    QuoteFactory,
    TagFactory,
    UserFactory,
)

from .helpers import event_count, events, make_rule, tagged_ids


def test_adding_a_tag_by_name_creates_it_tags_and_audits(session: Session) -> None:
    user = UserFactory()
    profile = ProfileFactory()
    change = add_tag(session=session, entity_type="profile", entity_id=profile.id,
                     tag_name=" Hot  lead ", user_id=user.id)
    assert change.changed and change.tag.name == "Hot lead"
    tagging = session.get(ProfileTag, (profile.id, change.tag.id))
    assert tagging is not None and tagging.source == "manual" and tagging.added_by_id == user.id
    [event] = events(session, profile_id=profile.id)
    assert (event.entity_type, event.entity_id, event.tag_id, event.tag_name, event.action,
            event.source, event.user_id) == ("profile", profile.id, change.tag.id, "Hot lead",
                                             "added", "manual", user.id)


def test_adding_an_existing_tag_in_another_case_is_a_no_op(session: Session) -> None:
    profile = ProfileFactory()
    tag = TagFactory(name="VIP", name_key="vip")
    add_tag(session=session, entity_type="profile", entity_id=profile.id, tag_name="VIP")
    again = add_tag(session=session, entity_type="profile", entity_id=profile.id, tag_name="vip")
    assert not again.changed and again.tag.id == tag.id
    assert event_count(session, profile_id=profile.id) == 1


@pytest.mark.parametrize("entity_type", ["quote", "job", "opportunity"])
def test_records_are_tagged_and_audited_under_their_profile(session: Session, entity_type: str) -> None:
    factory = {"quote": QuoteFactory, "job": JobFactory, "opportunity": OpportunityFactory}[entity_type]
    record = factory()
    change = add_tag(session=session, entity_type=entity_type, entity_id=record.id, tag_name="urgent")
    assert tagged_ids(session, change.tag, entity_type) == {record.id}
    assert tagged_ids(session, change.tag, "profile") == set()
    [event] = events(session, entity_type=entity_type)
    assert event.profile_id == record.profile_id and event.entity_id == record.id
    removed = remove_tag(session=session, entity_type=entity_type, entity_id=record.id, tag_id=change.tag.id)
    assert removed.changed and tagged_ids(session, change.tag, entity_type) == set()
    assert [e.action for e in events(session, entity_type=entity_type)] == ["added", "removed"]


def test_unknown_entity_and_bad_input_are_refused(session: Session) -> None:
    with pytest.raises(NotFound, match="quote: no quote with id 999999"):
        add_tag(session=session, entity_type="quote", entity_id=999999, tag_name="x")
    profile = ProfileFactory()
    with pytest.raises(ValidationFailed, match="entity_type: must be one of"):
        add_tag(session=session, entity_type="ticket", entity_id=profile.id, tag_name="x")
    with pytest.raises(ValidationFailed, match="tag: a tag name cannot be empty"):
        add_tag(session=session, entity_type="profile", entity_id=profile.id, tag_name="  ")
    with pytest.raises(NotFound, match="tag_id"):
        add_tag(session=session, entity_type="profile", entity_id=profile.id, tag_id=999999)
    with pytest.raises(NotFound, match="tag: no tag named 'nope'"):
        remove_tag(session=session, entity_type="profile", entity_id=profile.id, tag_name="nope")
    assert session.scalar(select(TagEvent)) is None


def test_removing_a_tag_the_entity_does_not_have_changes_nothing(session: Session) -> None:
    profile = ProfileFactory()
    tag = TagFactory()
    change = remove_tag(session=session, entity_type="profile", entity_id=profile.id, tag_id=tag.id)
    assert not change.changed and event_count(session) == 0


def test_removing_an_automatic_tag_by_hand_suppresses_it(session: Session) -> None:
    user = UserFactory()
    tag = TagFactory()
    rule = make_rule(session, tag)
    profile = ProfileFactory()
    ProfileTagFactory(profile=profile, tag=tag, source="rule", rule_id=rule.id)
    change = remove_tag(session=session, entity_type="profile", entity_id=profile.id, tag_id=tag.id,
                        user_id=user.id)
    assert change.changed and change.suppressed
    suppression = session.get(ProfileTagSuppression, (profile.id, tag.id))
    assert suppression is not None
    assert (suppression.rule_id, suppression.suppressed_by_id) == (rule.id, user.id)
    assert [t.id for t in entity_suppressions(session=session, entity_type="profile", entity_id=profile.id)] \
        == [tag.id]
    assert clear_suppression(session=session, entity_type="profile", entity_id=profile.id, tag_id=tag.id)
    assert session.get(ProfileTagSuppression, (profile.id, tag.id)) is None


def test_removing_a_manual_tag_that_a_rule_applies_also_suppresses(session: Session) -> None:
    tag = TagFactory()
    make_rule(session, tag)
    profile = ProfileFactory()
    ProfileTagFactory(profile=profile, tag=tag)
    assert remove_tag(session=session, entity_type="profile", entity_id=profile.id, tag_id=tag.id).suppressed


def test_removing_a_plain_manual_tag_or_by_a_workflow_does_not_suppress(session: Session) -> None:
    tag = TagFactory()
    profile = ProfileFactory()
    ProfileTagFactory(profile=profile, tag=tag)
    plain = remove_tag(session=session, entity_type="profile", entity_id=profile.id, tag_id=tag.id)
    assert plain.changed and not plain.suppressed
    rule_tag = TagFactory()
    make_rule(session, rule_tag)
    ProfileTagFactory(profile=profile, tag=rule_tag, source="rule")
    change = remove_tag(session=session, entity_type="profile", entity_id=profile.id, tag_id=rule_tag.id,
                        source="workflow")
    assert change.changed and not change.suppressed


def test_deleting_a_profile_deletes_its_taggings_events_and_suppressions(session: Session) -> None:
    tag = TagFactory()
    make_rule(session, tag)
    profile = ProfileFactory()
    quote = QuoteFactory(profile=profile)
    add_tag(session=session, entity_type="profile", entity_id=profile.id, tag_id=tag.id)
    add_tag(session=session, entity_type="quote", entity_id=quote.id, tag_id=tag.id)
    remove_tag(session=session, entity_type="profile", entity_id=profile.id, tag_id=tag.id)
    session.expunge_all()
    session.execute(Profile.__table__.delete().where(Profile.id == profile.id))
    assert event_count(session) == 0
    assert session.scalar(select(ProfileTagSuppression)) is None
    assert session.scalar(select(QuoteTag)) is None

"""A tag that workflows, segments or auto-tag rules use is never deleted silently, and renaming or
merging it keeps every one of them working."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import AutoTagRule, Segment, Tag, Workflow
from crm_segments.schemas.tags import TagPatch
from crm_segments.segments.compiler import compile_rule
from crm_segments.segments.deletion import InUse
from crm_segments.segments.rules import parse_rule
from crm_segments.segments.usages import APPLIES_TAG, tag_users
from crm_segments.tagging.management import delete_tag, merge_tags, update_tag
from crm_segments.tagging.manual import add_tag
from crm_segments.workflows.files import to_definition
from crm_segments.workflows.lifecycle import set_status
from crm_segments.workflows.triggers import enroll_from_events
from tests.factories import AdminFactory, ProfileFactory, ProfileTagFactory, TagFactory
from tests.workflows.helpers import T0, active_workflow, definition, enrollments

from .helpers import make_rule

pytestmark = pytest.mark.usefixtures("backend")
MINUTE = dt.timedelta(minutes=1)
TAG_STEPS = [{"key": "thank", "type": "add_tag", "tag": "thanked"}]
ELSEWHERE = {"field": "region", "op": "eq", "value": "x"}


def _tag_workflow(session: Session, tag_name: str, **overrides: Any) -> Workflow:
    data = definition(name=f"On {tag_name}", trigger={"type": "tag_added", "tag": tag_name}, steps=TAG_STEPS)
    data.update(overrides)
    return active_workflow(session, data)


def _live_segment(session: Session, rule: dict[str, Any], name: str = "Tagged") -> Segment:
    segment = Segment(name=name, kind="live", rule=rule)
    session.add(segment)
    session.flush()
    return segment


def _matches(session: Session, segment: Segment) -> set[int]:
    session.refresh(segment)
    return set(session.scalars(compile_rule(parse_rule(segment.rule), now=T0 + 10 * MINUTE)))


def _fires(session: Session, workflow: Workflow, tag_name: str, *, at: dt.datetime) -> bool:
    profile = ProfileFactory()
    add_tag(session=session, entity_type="profile", entity_id=profile.id, tag_name=tag_name, now=at)
    enroll_from_events(session, now=at + MINUTE)
    return profile.id in {e.profile_id for e in enrollments(session, workflow)}


def test_tag_users_finds_every_use_through_the_parsed_rules(session: Session) -> None:
    vip = TagFactory(name="VIP")
    _tag_workflow(session, "vip")
    branching = definition(name="Branching", steps=[
        {"key": "check", "type": "branch", "rule": {"not": {"tags": ["Vip"], "match": "none"}}},
        {"key": "mark", "type": "remove_tag", "tag": " vip "},
    ], goal={"rule": {"records": "quotes", "exists": True, "where": {"tags": "VIP"}}})
    segment = _live_segment(session, {"all": [
        {"field": "region", "op": "eq", "value": "vip"},  # a text value, not a tag: no use
        {"tags": ["gold", "vip"], "match": "all"},
    ]})
    active_workflow(session, {**branching, "trigger": {"type": "segment_entered", "segment": segment.name}})
    applies = make_rule(session, vip, name="Applies VIP")
    tests_it = make_rule(session, TagFactory(name="Gold"), name="Tests VIP",
                         condition={"any": [{"tags": ["vip"]}, ELSEWHERE]})

    found = {(u.kind, u.name, u.where) for u in tag_users(session, vip)}

    assert found == {
        ("workflow", "On vip", "trigger"),
        ("workflow", "Branching", "steps[0].rule.not.tags"),
        ("workflow", "Branching", "steps[1].tag"),
        ("workflow", "Branching", "goal.rule.where.tags"),
        ("segment", "Tagged", "rule.all[1].tags"),
        ("auto_tag_rule", applies.name, APPLIES_TAG),
        ("auto_tag_rule", tests_it.name, "condition.any[0].tags"),
    }


def test_deleting_a_tag_a_workflow_uses_is_refused_and_changes_nothing(session: Session) -> None:
    tag = TagFactory(name="VIP")
    ProfileTagFactory(tag=tag)
    workflow = _tag_workflow(session, "VIP")

    with pytest.raises(InUse, match=r"tag 'VIP' is used by workflow 'On VIP'; delete with on_use=detach"):
        delete_tag(session=session, tag_id=tag.id)

    assert session.get(Tag, tag.id) is not None
    assert workflow.status == "active" and workflow.paused_reason is None


def test_deleting_with_detach_pauses_the_workflow_with_the_reason(session: Session) -> None:
    admin = AdminFactory(name="Ada Admin")
    tag = TagFactory(name="VIP")
    workflow = _tag_workflow(session, "VIP")
    applying = make_rule(session, tag, name="Applies VIP")
    applying_id = applying.id

    deleted = delete_tag(session=session, tag_id=tag.id, user_id=admin.id, on_use="detach",
                         now=dt.datetime(2026, 12, 4, 19, 10, tzinfo=dt.UTC))

    assert [w.id for w in deleted.paused] == [workflow.id]
    session.refresh(workflow)
    assert workflow.status == "paused"
    assert workflow.paused_reason == "tag 'VIP' was deleted at 2026-12-04 19:10 UTC by Ada Admin"
    assert session.get(AutoTagRule, applying_id) is None  # it only existed to apply the tag
    TagFactory(name="VIP")  # the same name again does not quietly bring the old trigger back
    with pytest.raises(ValidationFailed, match="no longer exists"):
        set_status(session=session, workflow_id=workflow.id, status="active", now=T0 + MINUTE)


def test_a_rule_condition_using_the_tag_refuses_even_a_detach(session: Session) -> None:
    tag = TagFactory(name="VIP")
    segment = _live_segment(session, {"tags": ["vip"], "match": "none"})
    rule = make_rule(session, TagFactory(name="Gold"), condition={"tags": ["VIP"]}, name="Gold from VIP")

    with pytest.raises(InUse) as refused:
        delete_tag(session=session, tag_id=tag.id, on_use="detach")

    assert {(u.kind, u.id) for u in refused.value.conditions} == {("segment", segment.id),
                                                                 ("auto_tag_rule", rule.id)}
    message = str(refused.value)
    assert "change the conditions of segment 'Tagged', auto-tag rule 'Gold from VIP' first" in message
    assert session.get(Tag, tag.id) is not None


def test_an_unknown_on_use_is_refused(session: Session) -> None:
    tag = TagFactory()
    with pytest.raises(ValidationFailed, match="on_use: must be one of: refuse, detach"):
        delete_tag(session=session, tag_id=tag.id, on_use="ignore")
    assert session.get(Tag, tag.id) is not None


def test_renaming_keeps_the_workflow_firing_and_the_segment_members(session: Session) -> None:
    tag = TagFactory(name="VIP")
    member = ProfileFactory()
    ProfileTagFactory(profile=member, tag=tag)
    segment = _live_segment(session, {"any": [{"tags": ["vip"]}, ELSEWHERE]})
    workflow = _tag_workflow(session, "vip", steps=[{"key": "again", "type": "remove_tag", "tag": "VIP"}])
    rule = make_rule(session, TagFactory(name="Gold"), condition={"tags": "VIP"}, name="Gold from VIP")
    before = _matches(session, segment)
    assert before == {member.id}

    update_tag(session=session, tag_id=tag.id, data=TagPatch(name="Very important"))

    assert _matches(session, segment) == before
    session.refresh(rule)
    assert rule.condition == {"tags": "Very important"}
    assert _fires(session, workflow, "Very important", at=T0 + MINUTE)
    trigger = to_definition(workflow)["trigger"]
    assert trigger["tag"] == "Very important" and workflow.steps[0]["tag"] == "Very important"


def test_merging_keeps_the_workflow_firing_and_the_segment_members(session: Session) -> None:
    source, target = TagFactory(name="Gold customer"), TagFactory(name="Gold")
    member = ProfileFactory()
    ProfileTagFactory(profile=member, tag=source)
    segment = _live_segment(session, {"tags": ["gold customer", "Gold"], "match": "all"})
    other_segment = _live_segment(session, {"tags": ["Gold Customer"]}, name="Gold customers")
    workflow = _tag_workflow(session, "Gold customer")
    members_before = _matches(session, other_segment)
    assert members_before == {member.id} and _matches(session, segment) == set()

    merge_tags(session=session, source_ids=[source.id], target_id=target.id)

    session.refresh(workflow)
    assert workflow.trigger_tag_id == target.id and workflow.status == "active"
    assert _matches(session, other_segment) == members_before
    assert _matches(session, segment) == {member.id}  # "both tags" is now the one surviving tag
    assert segment.rule == {"tags": ["Gold"], "match": "all"}
    assert _fires(session, workflow, "Gold", at=T0 + MINUTE)
    assert session.scalars(select(Tag.name).where(Tag.id == source.id)).first() is None

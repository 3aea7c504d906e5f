"""A bulk write's changed profiles are staged in a temporary table and re-evaluated once, restricted
by it: profiles outside the batch are left as they are, whatever their rules say."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments import wiring
from crm_segments.kernel import changes
from crm_segments.kernel.staged_ids import staged_ids
from crm_segments.models import AutoTagRule, Profile, ProfileTag, Segment, SegmentEvent, SegmentMember, Tag
from crm_segments.segments import realtime


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    before = changes.registered()
    changes.register(wiring.profile_listeners())
    monkeypatch.setattr(changes, "STAGE_FROM", 2)
    yield
    changes.register(before)


def test_staged_ids_hold_exactly_the_ids_and_are_emptied_after(session: Session, backend: str) -> None:
    with staged_ids(session, {5, 3, 9}) as staged:
        assert sorted(session.scalars(staged)) == [3, 5, 9]
    with staged_ids(session, range(1, 2_501)) as staged:  # a second use sees only its own ids
        assert sorted(session.scalars(staged)) == list(range(1, 2_501))
    assert list(session.scalars(staged)) == []


def test_only_the_calls_from_stage_from_ids_on_reach_the_batch_listeners(
        session: Session, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    heard: list[tuple[str, set[int]]] = []
    before = changes.registered()
    changes.register(changes.ProfileListeners(
        each=(lambda _s, ids: heard.append(("each", set(ids))),),
        batch=(lambda s, changed: heard.append(("batch", set(s.scalars(changed.staged)))),)))
    monkeypatch.setattr(changes, "STAGE_FROM", 3)
    try:
        changes.profiles_changed(session=session, profile_ids=[1, 2])
        changes.profiles_changed(session=session, profile_ids=[1, 2, 3, 3])
    finally:
        changes.register(before)
    assert heard == [("each", {1, 2}), ("batch", {1, 2, 3})]


# 3 changed of 4 profiles: share 1, rules restricted to the batch; share 3, rules over everyone
# (a large share of the base changed). Either way only the batch's memberships change.
@pytest.mark.parametrize("wide_share", [1, 3], ids=["rules-restricted", "rules-over-everyone"])
def test_a_bulk_change_reevaluates_its_profiles_and_no_others(session: Session, backend: str, wired: None,
                                                              wide_share: int,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realtime, "WIDE_SHARE", wide_share)
    rule = {"field": "region", "op": "eq", "value": "Norte"}
    north = Segment(name="North", kind="live", version=1, rule=rule)
    tag = Tag(name="Northern", name_key="northern")
    profiles = [Profile(external_id=f"B-{n}", first_name=f"N{n}", region="Norte") for n in range(4)]
    session.add_all([north, tag, *profiles])
    session.flush()
    session.add(AutoTagRule(name="North", entity_type="profile", tag_id=tag.id, mode="live", enabled=True,
                            condition=rule))
    # Written without the signal: all four match, none is a member or tagged yet.
    session.add(SegmentMember(segment_id=north.id, profile_id=profiles[3].id))  # stale: leaves
    profiles[3].region = "Texas"
    session.flush()
    batch = [profiles[0].id, profiles[1].id, profiles[3].id]

    changes.profiles_changed(session=session, profile_ids=batch)

    members = set(session.scalars(select(SegmentMember.profile_id)
                                  .where(SegmentMember.segment_id == north.id)))
    assert members == {profiles[0].id, profiles[1].id}  # profiles[2] matches but was not in the batch
    events = {(e.profile_id, e.kind) for e in session.scalars(select(SegmentEvent))}
    assert events == {(profiles[0].id, "entered"), (profiles[1].id, "entered"), (profiles[3].id, "exited")}
    tagged = set(session.scalars(select(ProfileTag.entity_id).where(ProfileTag.tag_id == tag.id)))
    assert tagged == {profiles[0].id, profiles[1].id}
    assert session.get(Segment, north.id).member_count == 1  # type: ignore[union-attr]  # 0 + 2 - 1

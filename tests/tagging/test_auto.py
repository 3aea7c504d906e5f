from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import AutoTagRule, ProfileTag, ProfileTagSuppression, Tag
from crm_segments.records.validation import validate
from crm_segments.schemas.auto_tag_rules import AutoTagRuleIn, AutoTagRulePatch
from crm_segments.tagging import auto, realtime
from crm_segments.tagging.manual import add_tag, remove_tag
from crm_segments.tagging.rules import create_rule, update_rule
from crm_segments.tagging.shipped import SHIPPED_RULES, install_shipped_rules
from crm_segments.tagging.suppressions import clear_suppression
from tests.factories import JobFactory, ProfileFactory, QuoteFactory, TagFactory, UserFactory

from .helpers import events, tagged_ids

NOW = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)
CUSTOMER = {"field": "lifecycle_status", "op": "eq", "value": "customer"}


def _rule(session: Session, mode: str, condition: dict[str, object] | None = None,
          entity_type: str = "profile") -> AutoTagRule:
    return create_rule(session=session, data=AutoTagRuleIn(
        name=f"{mode} rule", entity_type=entity_type, condition=condition or CUSTOMER, tag=f"{mode} tag",
        mode=mode))


def test_a_sticky_rule_only_adds_and_audits_with_its_id(session: Session) -> None:
    rule = _rule(session, "sticky")
    customers = ProfileFactory.create_batch(2, lifecycle_status="customer")
    lead = ProfileFactory(lifecycle_status="lead")
    result = auto.run_rule(session=session, rule=rule, now=NOW, count_matches=True)
    assert (result.added, result.removed, result.matched) == (2, 0, 2)
    assert tagged_ids(session, rule.tag) == {p.id for p in customers}
    tagging = session.get(ProfileTag, (customers[0].id, rule.tag_id))
    assert tagging is not None and (tagging.source, tagging.rule_id) == ("rule", rule.id)
    assert {(e.action, e.source, e.rule_id) for e in events(session)} == {("added", "rule", rule.id)}
    assert (rule.last_run_at, rule.last_added, rule.last_removed, rule.last_matched) == (NOW, 2, 0, 2)
    # The condition stops holding: a sticky tag stays.
    customers[0].lifecycle_status = "churned"
    session.flush()
    again = auto.run_rule(session=session, rule=rule, now=NOW)
    assert (again.added, again.removed) == (0, 0)
    assert tagged_ids(session, rule.tag) == {p.id for p in customers}
    assert lead.id not in tagged_ids(session, rule.tag)


def test_a_live_rule_removes_only_the_taggings_it_added(session: Session) -> None:
    rule = _rule(session, "live")
    auto_tagged, by_hand = ProfileFactory.create_batch(2, lifecycle_status="customer")
    add_tag(session=session, entity_type="profile", entity_id=by_hand.id, tag_id=rule.tag_id)
    assert auto.run_rule(session=session, rule=rule, now=NOW).added == 1
    auto_tagged.lifecycle_status = by_hand.lifecycle_status = "churned"
    session.flush()
    result = auto.run_rule(session=session, rule=rule, now=NOW)
    assert (result.added, result.removed) == (0, 1)
    assert tagged_ids(session, rule.tag) == {by_hand.id}  # added by a person: the rule leaves it
    removed = [e for e in events(session) if e.action == "removed"]
    assert [(e.entity_id, e.rule_id) for e in removed] == [(auto_tagged.id, rule.id)]


def test_dry_run_counts_and_changes_nothing(session: Session) -> None:
    rule = _rule(session, "live")
    ProfileFactory.create_batch(3, lifecycle_status="customer")
    stale = ProfileFactory(lifecycle_status="lead")
    session.add(ProfileTag(entity_id=stale.id, tag_id=rule.tag_id, source="rule", rule_id=rule.id))
    session.flush()
    result = auto.dry_run(session=session, rule_id=rule.id, now=NOW)
    assert (result.matched, result.added, result.removed, result.dry_run) == (3, 3, 1, True)
    assert tagged_ids(session, rule.tag) == {stale.id} and events(session) == []
    assert rule.last_run_at is None


def test_a_suppression_wins_until_cleared(session: Session) -> None:
    user = UserFactory()
    rule = _rule(session, "sticky")
    profile = ProfileFactory(lifecycle_status="customer")
    auto.run_rule(session=session, rule=rule, now=NOW)
    removal = remove_tag(session=session, entity_type="profile", entity_id=profile.id, tag_id=rule.tag_id,
                         user_id=user.id)
    assert removal.suppressed
    assert auto.run_rule(session=session, rule=rule, now=NOW).added == 0
    assert auto.dry_run(session=session, rule_id=rule.id, now=NOW).added == 0
    assert tagged_ids(session, rule.tag) == set()
    clear_suppression(session=session, entity_type="profile", entity_id=profile.id, tag_id=rule.tag_id)
    assert auto.run_rule(session=session, rule=rule, now=NOW).added == 1


def test_a_suppression_keeps_any_rule_for_that_tag_off(session: Session) -> None:
    tag = TagFactory()
    first = create_rule(session=session, data=AutoTagRuleIn(name="first", condition=CUSTOMER, tag_id=tag.id))
    second = create_rule(session=session, data=AutoTagRuleIn(
        name="second", condition={"field": "region", "op": "eq", "value": "North"}, tag_id=tag.id))
    profile = ProfileFactory(lifecycle_status="customer", region="North")
    auto.run_rule(session=session, rule=first, now=NOW)
    remove_tag(session=session, entity_type="profile", entity_id=profile.id, tag_id=tag.id)
    assert session.get(ProfileTagSuppression, (profile.id, tag.id)) is not None
    assert auto.run_rule(session=session, rule=second, now=NOW).added == 0


def test_record_rules_tag_quotes(session: Session) -> None:
    big = QuoteFactory(total=Decimal("9000.00"))
    QuoteFactory(total=Decimal("50.00"))
    rule = _rule(session, "live", {"field": "total", "op": "gte", "value": 5000}, entity_type="quote")
    assert auto.run_rule(session=session, rule=rule, now=NOW).added == 1
    assert tagged_ids(session, rule.tag, "quote") == {big.id}
    [event] = events(session)
    assert (event.entity_type, event.entity_id, event.profile_id) == ("quote", big.id, big.profile_id)


def test_reevaluate_profiles_touches_only_those_profiles(session: Session) -> None:
    rule = _rule(session, "live")
    changed, untouched = ProfileFactory.create_batch(2, lifecycle_status="customer")
    realtime.reevaluate_profiles(session, {changed.id}, now=NOW)
    assert tagged_ids(session, rule.tag) == {changed.id}
    changed.lifecycle_status = "churned"
    session.flush()
    realtime.reevaluate_profiles(session, [changed.id, untouched.id], now=NOW)
    assert tagged_ids(session, rule.tag) == {untouched.id}
    assert sorted((e.entity_id, e.action) for e in events(session)) == sorted([
        (changed.id, "added"), (untouched.id, "added"), (changed.id, "removed")])
    assert rule.last_run_at is None  # partial runs do not overwrite the full run's statistics


def test_a_large_batch_of_changed_profiles_is_handled_as_a_set(session: Session,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realtime, "ONE_BY_ONE", 1)
    rule = _rule(session, "live")
    first, second, other = ProfileFactory.create_batch(3, lifecycle_status="customer")
    realtime.reevaluate_profiles(session, [first.id, second.id], now=NOW)
    assert tagged_ids(session, rule.tag) == {first.id, second.id}


def test_a_batch_is_evaluated_in_chunks_for_those_profiles_only(session: Session,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realtime, "ONE_BY_ONE", 0)
    monkeypatch.setattr(realtime, "BATCH", 2)  # three changed profiles: two chunks
    rule = _rule(session, "live", {"records": "jobs", "where": {"field": "status", "op": "eq",
                                                               "value": "completed"},
                                   "count": {"op": "gte", "value": 2}})
    buyers = ProfileFactory.create_batch(3)
    unchanged_buyer, lapsed = ProfileFactory.create_batch(2)
    for profile in [*buyers, unchanged_buyer]:
        JobFactory.create_batch(2, profile=profile)
    auto.run_rule(session=session, rule=rule, now=NOW)
    assert tagged_ids(session, rule.tag) == {p.id for p in [*buyers, unchanged_buyer]}
    # A tagging of the rule's that no longer holds (lapsed has no jobs), and the buyers' taken away.
    session.add(ProfileTag(entity_id=lapsed.id, tag_id=rule.tag_id, source="rule", rule_id=rule.id))
    session.execute(ProfileTag.__table__.delete().where(ProfileTag.tag_id == rule.tag_id,
                                                        ProfileTag.entity_id.in_([b.id for b in buyers])))
    session.flush()
    realtime.reevaluate_profiles(session, [b.id for b in buyers], now=NOW)
    # the changed buyers are tagged again; the unchanged ones (lapsed included) are left as they were
    assert tagged_ids(session, rule.tag) == {p.id for p in [*buyers, unchanged_buyer, lapsed]}
    realtime.reevaluate_profiles(session, [buyers[0].id, lapsed.id], now=NOW)
    assert tagged_ids(session, rule.tag) == {p.id for p in [*buyers, unchanged_buyer]}


def test_a_broken_rule_does_not_stop_the_others_for_changed_profiles(
        session: Session, caplog: pytest.LogCaptureFixture) -> None:
    good = _rule(session, "sticky")  # runs first, then its work is rolled back with the failed attempt
    broken = _rule(session, "live", {"field": "region", "op": "eq", "value": "North"})
    broken.condition = {"field": "no_such_field", "op": "eq", "value": 1}  # broken behind the service's back
    session.flush()
    profile = ProfileFactory(lifecycle_status="customer")
    realtime.reevaluate_profiles(session, [profile.id], now=NOW)
    assert tagged_ids(session, good.tag) == {profile.id}
    assert [(e.rule_id, e.action) for e in events(session)] == [(good.id, "added")]  # once, not twice
    assert f"auto-tag rule {broken.id} failed" in caplog.text


def test_the_profile_changed_signal_retags(session: Session) -> None:
    from crm_segments.kernel.changes import profiles_changed

    rule = _rule(session, "live")
    profile = ProfileFactory(lifecycle_status="lead")
    profile.lifecycle_status = "customer"
    profiles_changed(session=session, profile_ids=[profile.id])
    assert tagged_ids(session, rule.tag) == {profile.id}
    assert [e.rule_id for e in events(session)] == [rule.id]


def test_reevaluate_profiles_for_record_rules_uses_the_records_of_those_profiles(session: Session) -> None:
    rule = _rule(session, "sticky", {"field": "status", "op": "eq", "value": "sent"}, entity_type="quote")
    mine, other = QuoteFactory(), QuoteFactory()
    realtime.reevaluate_profiles(session, {mine.profile_id}, now=NOW)
    assert tagged_ids(session, rule.tag, "quote") == {mine.id}
    assert other.id not in tagged_ids(session, rule.tag, "quote")


def test_disabled_rules_do_not_run(session: Session) -> None:
    rule = _rule(session, "sticky")
    update_rule(session=session, rule_id=rule.id, data=AutoTagRulePatch(enabled=False))
    ProfileFactory(lifecycle_status="customer")
    assert auto.run_all_rules(session=session, now=NOW) == []
    assert tagged_ids(session, rule.tag) == set()


def test_invalid_conditions_are_refused_with_the_path(session: Session) -> None:
    with pytest.raises(ValidationFailed) as caught:
        create_rule(session=session, data=AutoTagRuleIn(
            name="bad", tag="x", condition={"all": [CUSTOMER, {"field": "nope", "op": "eq", "value": 1}]}))
    assert caught.value.errors[0].field.startswith("condition.all[1]")
    with pytest.raises(ValidationFailed) as empty:
        create_rule(session=session, data=AutoTagRuleIn(name="empty", tag="x", condition={}))
    assert empty.value.errors[0].field == "condition"
    with pytest.raises(ValidationFailed) as several:  # the input model names every bad field at once
        validate(AutoTagRuleIn, {"name": "", "entity_type": "ticket", "tag": "x", "condition": CUSTOMER,
                                 "mode": "sometimes", "enabled": "yes"})
    assert {e.field for e in several.value.errors} == {"name", "entity_type", "mode", "enabled"}
    assert session.scalar(select(AutoTagRule)) is None


def test_the_scheduled_job_runs_each_rule_in_its_own_transaction(
    session: Session, session_factory: sessionmaker[Session],
) -> None:
    good = _rule(session, "sticky")
    broken = _rule(session, "live", {"field": "region", "op": "eq", "value": "North"})
    broken.condition = {"field": "no_such_field", "op": "eq", "value": 1}  # broken behind the service's back
    ProfileFactory(lifecycle_status="customer")
    session.commit()
    results = {r.rule_id: r for r in auto.run_auto_tag_rules(session_factory, now=NOW)}
    assert results[good.id].added == 1 and results[good.id].error is None
    assert "no_such_field" in (results[broken.id].error or "")
    session.expire_all()
    assert session.get(AutoTagRule, broken.id).last_error is not None
    assert session.get(AutoTagRule, good.id).last_added == 1


def test_shipped_rules_install_once_and_keep_admin_edits(session: Session) -> None:
    install_shipped_rules(session)
    rules = {r.key: r for r in session.scalars(select(AutoTagRule))}
    assert set(rules) == {s.key for s in SHIPPED_RULES}
    assert all(r.is_builtin and r.shipped_condition == r.condition for r in rules.values())
    rules["high-value"].condition = {"records": "jobs", "sum": {"op": "gte", "value": 5}}
    install_shipped_rules(session)
    assert session.scalar(select(AutoTagRule.condition).where(AutoTagRule.key == "high-value")) == {
        "records": "jobs", "sum": {"op": "gte", "value": 5}}
    assert len(session.scalars(select(Tag)).all()) == len(SHIPPED_RULES)


def test_shipped_rules_tag_the_right_profiles(session: Session) -> None:
    install_shipped_rules(session)
    ago = lambda days: NOW - dt.timedelta(days=days)  # noqa: E731
    quoted = ProfileFactory()
    QuoteFactory(profile=quoted, sent_at=ago(200))
    fresh = ProfileFactory()
    JobFactory(profile=fresh, status="completed", finished_at=ago(5), amount=Decimal("100"))
    repeat = ProfileFactory()
    JobFactory.create_batch(2, profile=repeat, status="completed", finished_at=ago(100))
    lapsed = ProfileFactory()
    JobFactory(profile=lapsed, status="completed", finished_at=ago(400), amount=Decimal("12000"))
    for result in auto.run_all_rules(session=session, now=NOW):
        assert result.error is None
    tags = {r.key: r.tag for r in session.scalars(select(AutoTagRule))}
    assert tagged_ids(session, tags["quote-no-purchase-6m"]) == {quoted.id}
    assert tagged_ids(session, tags["new-customer"]) == {fresh.id}
    assert tagged_ids(session, tags["repeat-buyer"]) == {repeat.id}
    assert tagged_ids(session, tags["inactive-12m"]) == {lapsed.id}
    assert tagged_ids(session, tags["high-value"]) == {lapsed.id}

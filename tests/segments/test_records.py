"""Tags, related records, purchases and segment membership on real SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from crm_segments.models import Segment, SegmentMember
from tests.factories import (
    CategoryFactory,
    JobFactory,
    JobLineFactory,
    JobTagFactory,
    ProductFactory,
    ProfileFactory,
    ProfileTagFactory,
    QuoteFactory,
    TagFactory,
)

from .test_compiler import NOW, days_ago, matches


def test_tags_any_all_none_window_and_source(session: Session) -> None:
    vip, gold = TagFactory(name="VIP"), TagFactory(name="Gold")
    both, only_vip, old_vip, nothing = (ProfileFactory() for _ in range(4))
    ProfileTagFactory(profile=both, tag=vip, added_at=days_ago(1), source="rule")
    ProfileTagFactory(profile=both, tag=gold, added_at=days_ago(1))
    ProfileTagFactory(profile=only_vip, tag=vip, added_at=days_ago(10))
    ProfileTagFactory(profile=old_vip, tag=vip, added_at=days_ago(100))
    everyone = {both.id, only_vip.id, old_vip.id, nothing.id}

    def tagged(doc: dict[str, Any]) -> set[int]:
        return matches(session, doc) & everyone

    assert tagged({"tags": "  vip "}) == {both.id, only_vip.id, old_vip.id}  # names match like tag keys
    assert tagged({"tags": ["VIP", "Gold"], "match": "all"}) == {both.id}
    assert tagged({"tags": ["gold", "nonexistent"], "match": "none"}) == {only_vip.id, old_vip.id, nothing.id}
    assert tagged({"tags": ["vip"], "added_within": {"value": 2, "unit": "weeks"}}) == {both.id, only_vip.id}
    assert tagged({"tags": ["vip"], "source": "rule"}) == {both.id}
    assert tagged({"tags": ["nonexistent"]}) == set()


def test_record_measures(session: Session) -> None:
    none, small, big = ProfileFactory(), ProfileFactory(), ProfileFactory()
    JobFactory(profile=small, amount=Decimal("10.10"), status="completed", created_at=days_ago(3))
    JobFactory(profile=small, amount=Decimal("20.20"), status="cancelled", created_at=days_ago(200))
    JobFactory(profile=big, amount=Decimal("1000.00"), status="completed", created_at=days_ago(40))
    everyone = {none.id, small.id, big.id}

    def jobs(**measure: Any) -> set[int]:
        return matches(session, {"records": "jobs", **measure}) & everyone

    assert jobs(count={"op": "eq", "value": 0}) == {none.id}  # no records at all counts as zero
    assert jobs(count={"op": "lt", "value": 2}) == {none.id, big.id}
    cancelled = {"field": "status", "op": "eq", "value": "cancelled"}
    assert jobs(count={"op": "gte", "value": 1}, where=cancelled) == {small.id}
    assert jobs(sum={"op": "eq", "value": "30.30"}) == {small.id}  # exact cents on every backend
    assert jobs(sum={"op": "lte", "value": 30.30}) == {none.id, small.id}
    assert jobs(avg={"op": "eq", "value": "15.15"}) == {small.id}  # no integer division
    assert jobs(avg={"op": "neq", "value": "15.15"}) == {none.id, big.id}
    assert jobs(avg={"op": "between", "value": [15, 1000]}) == {small.id, big.id}
    assert jobs(last={"op": "within_last", "value": 1, "unit": "weeks"}) == {small.id}
    assert jobs(first={"op": "more_than_ago", "value": 30, "unit": "days"}) == {small.id, big.id}
    assert jobs(exists=True, within={"value": 60, "unit": "days"}) == {small.id, big.id}
    assert jobs(exists=False, within={"value": 7, "unit": "days"}) == {none.id, big.id}


def test_purchases_by_product_and_category(session: Session) -> None:
    roofing = CategoryFactory(name="Roofing")
    shingles = ProductFactory(sku="SHG-1", category=roofing)
    nails = ProductFactory(sku="NAIL", category=CategoryFactory(name="Fasteners"))
    bought, quoted_only, cancelled = ProfileFactory(), ProfileFactory(), ProfileFactory()
    JobLineFactory(job=JobFactory(profile=bought, status="completed"), product=shingles,
                   amount=Decimal("99.00"))
    JobLineFactory(job=JobFactory(profile=bought, status="completed"), product=nails)
    JobLineFactory(job=JobFactory(profile=cancelled, status="cancelled"), product=shingles)
    QuoteFactory(profile=quoted_only)
    everyone = {bought.id, quoted_only.id, cancelled.id}

    def purchases(doc: dict[str, Any]) -> set[int]:
        return matches(session, {"records": "purchases", **doc}) & everyone

    in_roofing = {"field": "category", "op": "in", "value": ["roofing"]}
    assert purchases({"exists": True, "where": in_roofing}) == {bought.id}
    by_sku = {"field": "product", "op": "eq", "value": "nail"}
    assert purchases({"exists": True, "where": by_sku}) == {bought.id}
    assert purchases({"sum": {"op": "eq", "value": 99}, "where": in_roofing}) == {bought.id}
    assert purchases({"count": {"op": "eq", "value": 2}}) == {bought.id}


def test_record_tags_and_nested_records(session: Session) -> None:
    urgent = TagFactory(name="Urgent")
    profile, other = ProfileFactory(), ProfileFactory()
    JobTagFactory(job=JobFactory(profile=profile), tag=urgent)
    JobFactory(profile=other)
    doc = {"records": "jobs", "exists": True, "where": {"tags": ["urgent"]}}
    assert matches(session, doc) & {profile.id, other.id} == {profile.id}
    # Every quote of the profile was followed by a job (no quote lacks a later job)
    waiting = ProfileFactory()
    QuoteFactory(profile=other, sent_at=days_ago(50))
    QuoteFactory(profile=waiting, sent_at=days_ago(50))
    JobFactory(profile=waiting, created_at=days_ago(60))
    later_job = {"field": "created_at", "op": "after", "ref": "parent.sent_at"}
    followed = {"not": {"records": "quotes", "exists": True, "where": {
        "records": "jobs", "exists": False, "where": later_job}}}
    assert matches(session, followed) & {profile.id, other.id, waiting.id} == {profile.id, other.id}


def test_segment_membership_by_id_and_key(session: Session) -> None:
    vip = Segment(name="VIP customers", key="vip", kind="static")
    plain = Segment(name="No key", kind="static")
    session.add_all([vip, plain])
    member, outsider = ProfileFactory(), ProfileFactory()
    session.flush()
    session.add_all([SegmentMember(segment_id=vip.id, profile_id=member.id),
                     SegmentMember(segment_id=plain.id, profile_id=outsider.id)])
    session.flush()
    both = {member.id, outsider.id}
    assert matches(session, {"segment": "vip"}) & both == {member.id}
    assert matches(session, {"segment": plain.id}) & both == {outsider.id}
    assert matches(session, {"not": {"segment": vip.id}}) & both == {outsider.id}
    assert matches(session, {"segment": "missing"}) & both == set()


def test_now_must_be_aware() -> None:
    import pytest

    from crm_segments.segments.compiler import compile_rule
    from crm_segments.segments.rules import parse_rule

    with pytest.raises(ValueError, match="timezone-aware"):
        compile_rule(parse_rule({"field": "region", "op": "is_set"}), now=NOW.replace(tzinfo=None))
    assert NOW.tzinfo is dt.UTC

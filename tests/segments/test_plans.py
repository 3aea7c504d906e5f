"""The plans segment memberships compile to: record scans and score scans instead of a pass over every
profile, and the same members as the plain rule query (tests/segments/test_property.py checks
compile_members against the reference evaluator on random rules)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from crm_segments.models import RfmScore
from crm_segments.segments.compiler import compile_members, compile_rule, rule_predicate
from crm_segments.segments.prebuilt import BY_KEY
from crm_segments.segments.rules import parse_rule
from tests.factories import JobFactory, OpportunityFactory, ProfileFactory, QuoteFactory

NOW = dt.datetime(2024, 3, 15, 12, 0, tzinfo=dt.UTC)


def _builtin(key: str) -> Any:
    builtin = BY_KEY[key]
    return parse_rule(builtin.build(builtin.defaults))


def _sql(query: Any) -> str:
    return str(query.compile(dialect=postgresql.dialect()))


def _same_members(session: Session, rule: Any) -> list[int]:
    members = list(session.scalars(compile_members(rule, now=NOW)))
    assert sorted(members) == sorted(set(session.scalars(compile_rule(rule, now=NOW))))
    return sorted(members)


def test_price_range_is_a_union_of_record_scans(session: Session) -> None:
    rule = _builtin("price_range")
    sql = _sql(compile_members(rule, now=NOW))
    assert "UNION" in sql and "crm_profiles" not in sql and "EXISTS" not in sql
    quoted, bought, both, outside = ProfileFactory(), ProfileFactory(), ProfileFactory(), ProfileFactory()
    QuoteFactory(profile=quoted, total=Decimal("2500.00"))
    JobFactory(profile=bought, amount=Decimal("1000.00"))
    JobFactory(profile=both, amount=Decimal("9000.00"))
    OpportunityFactory(profile=both, value=Decimal("10000.00"))
    QuoteFactory(profile=outside, total=Decimal("10000.01"))
    session.flush()
    assert _same_members(session, rule) == sorted([quoted.id, bought.id, both.id])  # each id once


def test_any_of_records_and_a_field_hashes_one_union(session: Session) -> None:
    rule = parse_rule({"any": [
        {"records": "quotes", "exists": True},
        {"records": "jobs", "exists": True, "where": {"field": "status", "op": "eq", "value": "completed"}},
        {"field": "region", "op": "eq", "value": "Texas"}]})
    sql = _sql(rule_predicate(rule, now=NOW))
    assert sql.count("UNION") == 1 and "EXISTS" not in sql
    texan, quoted, nobody = ProfileFactory(region="Texas"), ProfileFactory(region="Ohio"), ProfileFactory()
    QuoteFactory(profile=quoted)
    JobFactory(profile=nobody, status="cancelled")
    session.flush()
    assert set(_same_members(session, rule)) >= {texan.id, quoted.id}
    assert nobody.id not in _same_members(session, rule)


def test_first_purchase_window_is_an_anti_join_over_jobs(session: Session) -> None:
    rule = _builtin("new_customers")
    query = compile_members(rule, now=NOW)
    sql = _sql(query)
    assert isinstance(query, Select) and "crm_profiles" not in sql
    assert "NOT (EXISTS" in sql and "GROUP BY" not in sql and "min(" not in sql
    recent, old, edge, cancelled_before = (ProfileFactory() for _ in range(4))
    JobFactory(profile=recent, status="completed", finished_at=NOW - dt.timedelta(days=10))
    JobFactory(profile=recent, status="completed", finished_at=NOW - dt.timedelta(days=5))
    JobFactory(profile=old, status="completed", finished_at=NOW - dt.timedelta(days=200))
    JobFactory(profile=old, status="completed", finished_at=NOW - dt.timedelta(days=3))
    # The window's first instant is in it.
    JobFactory(profile=edge, status="completed", finished_at=NOW - dt.timedelta(days=90))
    # Only completed jobs count as before the window, and a job yet to finish is no purchase.
    JobFactory(profile=cancelled_before, status="cancelled", finished_at=NOW - dt.timedelta(days=300))
    JobFactory(profile=cancelled_before, status="completed", finished_at=NOW - dt.timedelta(days=1))
    JobFactory(profile=cancelled_before, status="completed", finished_at=None)
    session.flush()
    assert _same_members(session, rule) == sorted([recent.id, edge.id, cancelled_before.id])


def test_rfm_segment_is_one_scan_of_the_scores(session: Session) -> None:
    rule = _builtin("rfm_vip")
    members_sql = _sql(compile_members(rule, now=NOW))
    assert members_sql.count("FROM crm_rfm_scores") == 1 and "crm_profiles" not in members_sql
    assert _sql(rule_predicate(rule, now=NOW)).count("EXISTS") == 1  # one row of scores, tested once
    vip, near, unscored = ProfileFactory(), ProfileFactory(), ProfileFactory()
    session.add_all([RfmScore(profile_id=vip.id, recency=5, frequency=4, monetary=4, computed_at=NOW),
                     RfmScore(profile_id=near.id, recency=5, frequency=3, monetary=5, computed_at=NOW)])
    session.flush()
    assert _same_members(session, rule) == [vip.id]
    assert unscored.id not in _same_members(session, rule)


def test_negated_rfm_condition_keeps_the_unscored(session: Session) -> None:
    rule = parse_rule({"all": [{"field": "rfm.recency", "op": "gte", "value": 1},
                               {"field": "rfm.monetary", "op": "neq", "value": 5}]})
    scored, top = ProfileFactory(), ProfileFactory()
    session.add_all([RfmScore(profile_id=scored.id, recency=2, frequency=1, monetary=3, computed_at=NOW),
                     RfmScore(profile_id=top.id, recency=2, frequency=1, monetary=5, computed_at=NOW)])
    session.flush()
    assert _same_members(session, rule) == [scored.id]


def test_restricted_members_stay_restricted(session: Session) -> None:
    rule = _builtin("price_range")
    inside, other = ProfileFactory(), ProfileFactory()
    JobFactory(profile=inside, amount=Decimal("5000.00"))
    JobFactory(profile=other, amount=Decimal("5000.00"))
    session.flush()
    assert list(session.scalars(compile_members(rule, now=NOW, profile_ids=[inside.id]))) == [inside.id]


def test_a_group_of_one_gives_each_member_once(session: Session) -> None:
    rule = parse_rule({"any": [{"records": "quotes", "exists": True}]})
    twice = ProfileFactory()
    QuoteFactory(profile=twice)
    QuoteFactory(profile=twice)
    session.flush()
    assert _same_members(session, rule) == [twice.id]

"""Explain: which conditions of a rule hold for one profile; describe: a rule in words."""

from __future__ import annotations

from sqlalchemy.orm import Session

from crm_segments.segments.describe import describe
from crm_segments.segments.explain import explain
from crm_segments.segments.rules import parse_rule
from tests.factories import ProfileFactory, QuoteFactory

from .test_compiler import NOW, QUOTED_NOT_CONVERTED, days_ago

RULE = {"all": [
    {"field": "region", "op": "eq", "value": "Ontario"},
    {"any": [QUOTED_NOT_CONVERTED, {"tags": ["VIP", "Gold"], "match": "all"}]},
    {"not": {"field": "email_consent", "op": "is_true"}},
]}


def test_explain_tells_which_conditions_hold(session: Session) -> None:
    profile = ProfileFactory(region="Quebec", email_consent=False)
    QuoteFactory(profile=profile, status="sent", sent_at=days_ago(30))
    tree = explain(session, parse_rule(RULE), profile.id, now=NOW)
    assert tree.kind == "all" and tree.holds is False
    region, either, no_consent = tree.children
    assert region.holds is False and region.text == "Region is Ontario"
    assert either.holds is True and [c.holds for c in either.children] == [True, False]
    assert no_consent.kind == "not" and no_consent.holds is True
    assert no_consent.children[0].holds is False
    assert tree.as_dict()["children"][0] == {"text": "Region is Ontario", "holds": False,
                                             "kind": "condition", "children": []}


def test_describe_renders_words() -> None:
    assert describe(parse_rule(RULE)) == (
        "Region is Ontario AND (has a quote where (Status is sent AND Sent is more than 14 days ago"
        " AND has no job where Created is after the quote's sent) OR has all of the"
        " tags VIP, Gold) AND NOT (Email consent is yes)"
    )
    assert describe(parse_rule({"records": "jobs", "within": {"value": 1, "unit": "months"},
                                "sum": {"op": "gte", "value": 1000}})) == (
        "(Total amount of jobs where created in the last 1 month) is at least 1,000.00")
    assert describe(parse_rule({"field": "birth_date", "op": "anniversary_in_next", "value": 7})) == (
        "Birth date has its anniversary within the next 7 days")
    assert describe(parse_rule({"segment": 4}), segment_names={4: "VIP"}) == "is in segment VIP"

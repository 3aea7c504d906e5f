"""Rule validation: every refusal names the offending node's path and the reason."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from crm_segments.segments.rule_metadata import rule_metadata
from crm_segments.segments.rules import (
    AllOf,
    FieldCondition,
    RecordCondition,
    RuleError,
    TagCondition,
    parse_rule,
)


def error(doc: Any, root: str = "profile") -> RuleError:
    with pytest.raises(RuleError) as caught:
        parse_rule(doc, root=root)
    return caught.value


@pytest.mark.parametrize(("doc", "path", "words"), [
    (None, "rule", "non-empty JSON object"),
    ({}, "rule", "non-empty JSON object"),
    ({"all": []}, "rule.all", "non-empty list"),
    ({"any": [{"all": []}]}, "rule.any[0].all", "non-empty list"),
    ({"all": [{"field": "region", "op": "eq", "value": "x"}, {"any": [{"field": "nope", "op": "eq"}]}]},
     "rule.all[1].any[0].field", "unknown profile field 'nope'"),
    ({"field": "region", "op": "gt", "value": 3}, "rule.op", "not available for text"),
    ({"field": "region", "op": "eq"}, "rule.value", "needs a value"),
    ({"field": "region", "op": "eq", "value": ""}, "rule.value", "non-empty text"),
    ({"field": "region", "op": "is_empty", "value": "x"}, "rule.value", "takes no value"),
    ({"field": "region", "op": "in", "value": []}, "rule.value", "non-empty list"),
    ({"field": "gender", "op": "eq", "value": "robot"}, "rule.value", "must be one of"),
    ({"field": "gender", "op": "in", "value": ["female", 3]}, "rule.value[1]", "must be one of"),
    ({"field": "company_size", "op": "gt", "value": "ten"}, "rule.value", "must be a number"),
    ({"field": "company_size", "op": "gt", "value": True}, "rule.value", "must be a number"),
    ({"field": "annual_revenue", "op": "gt", "value": "1.005"}, "rule.value", "two decimals"),
    ({"field": "company_size", "op": "between", "value": [5, 1]}, "rule.value", "greater than high"),
    ({"field": "birth_date", "op": "before", "value": "2024-13-01"}, "rule.value", "YYYY-MM-DD"),
    ({"field": "created_at", "op": "within_last", "value": 3}, "rule.unit", "days, weeks, months"),
    ({"field": "created_at", "op": "within_last", "value": -1, "unit": "days"}, "rule.value", "whole number"),
    ({"field": "created_at", "op": "anniversary_in_next", "value": 3}, "rule.op", "not available"),
    ({"field": "region", "op": "eq", "value": "x", "extra": 1}, "rule.extra", "unknown key"),
    ({"field": "custom.a-b", "op": "eq", "value": "x"}, "rule.field", "letters, digits"),
    ({"field": "custom.pets", "type": "json", "op": "eq", "value": "x"}, "rule.type", "must be one of"),
    ({"field": "region", "type": "text", "op": "eq", "value": "x"}, "rule.type", "only declared"),
    ({"field": "region", "op": "eq", "value": "x", "not": {}}, "rule", "exactly one of"),
    ({"tags": []}, "rule.tags", "non-empty list"),
    ({"tags": ["vip"], "match": "some"}, "rule.match", "any, all, none"),
    ({"tags": ["vip"], "source": "magic"}, "rule.source", "must be one of"),
    ({"records": "invoices", "exists": True}, "rule.records", "must be one of"),
    ({"records": "quotes"}, "rule", "exactly one of: exists"),
    ({"records": "quotes", "exists": "yes"}, "rule.exists", "true or false"),
    ({"records": "tickets", "sum": {"op": "gt", "value": 3}}, "rule.sum.field", "no money field"),
    ({"records": "jobs", "count": {"op": "gt", "value": 1.5}}, "rule.count.value", "whole number"),
    ({"records": "jobs", "last": {"op": "is_set"}}, "rule.last.op", "not available"),
    ({"records": "tickets", "exists": True, "where": {"tags": ["x"]}}, "rule.where.tags", "have no tags"),
    ({"records": "quotes", "exists": True, "where": {"field": "region", "op": "eq", "value": "x"}},
     "rule.where.field", "unknown quote field 'region'"),
    ({"records": "quotes", "exists": True, "where": {"segment": 3}},
     "rule.where.segment", "profile condition"),
    ({"field": "created_at", "op": "after", "ref": "parent.sent_at"}, "rule.ref", "only available inside"),
    ({"records": "quotes", "exists": True, "where": {"records": "jobs", "exists": False, "where": {
        "field": "created_at", "op": "after", "ref": "parent.total"}}},
     "rule.where.where.ref", "cannot compare datetime"),
    ({"records": "jobs", "exists": False,
      "where": {"field": "created_at", "op": "after", "ref": "parent.total"}},
     "rule.where.ref", "unknown profile field 'total'"),
    ({"records": "jobs", "exists": False,
      "where": {"field": "created_at", "op": "on", "ref": "parent.created_at"}},
     "rule.where.ref", "cannot compare with another field"),
    ({"segment": 0}, "rule.segment", "id or key"),
    ({"profile": {"field": "region", "op": "is_set"}}, "rule.profile", "top of a record rule"),
    ({"not": {"not": {"not": None}}}, "rule.not.not.not", "non-empty JSON object"),
])
def test_invalid_rules_name_the_path(doc: Any, path: str, words: str) -> None:
    exc = error(doc)
    assert exc.path == path
    assert words in exc.message
    assert str(exc).startswith(f"{path}: ")


def test_too_deep_is_refused() -> None:
    doc: dict[str, Any] = {"field": "region", "op": "is_set"}
    for _ in range(40):
        doc = {"not": doc}
    assert "levels deep" in error(doc).message


def test_record_rules_test_their_own_fields() -> None:
    assert error({"field": "region", "op": "is_set"}, root="quote").path == "rule.field"
    rule = parse_rule({"all": [{"field": "status", "op": "eq", "value": "sent"},
                               {"profile": {"field": "region", "op": "is_set"}}]}, root="quote")
    assert isinstance(rule, AllOf)
    with pytest.raises(ValueError, match="unknown rule root"):
        parse_rule({"field": "status", "op": "is_set"}, root="ticket")


def test_values_are_coerced() -> None:
    rule = parse_rule({"all": [
        {"field": "annual_revenue", "op": "between", "value": [10, "20.5"]},
        {"field": "birth_date", "op": "on", "value": "2000-02-29"},
        {"tags": "VIP"},
        {"records": "jobs", "within": {"value": 3, "unit": "months"}, "sum": {"op": "gte", "value": 99.99}},
    ]})
    assert isinstance(rule, AllOf)
    money, day, tags, jobs = rule.children
    assert isinstance(money, FieldCondition) and money.value == (Decimal("10.00"), Decimal("20.50"))
    assert isinstance(day, FieldCondition) and day.value == dt.date(2000, 2, 29)
    assert isinstance(tags, TagCondition) and tags.names == ("VIP",) and tags.match == "any"
    assert isinstance(jobs, RecordCondition) and jobs.measure is not None
    assert jobs.measure.condition.value == Decimal("99.99")
    assert jobs.measure.condition.field.name == "amount"


def test_metadata_lists_fields_operators_and_choices() -> None:
    meta = rule_metadata()
    profile_fields = {f["name"]: f for f in meta["profile"]["fields"]}
    assert profile_fields["gender"]["choices"] == ["female", "male", "non_binary", "undisclosed"]
    assert profile_fields["rfm.recency"]["type"] == "number"
    assert {op["name"] for op in meta["types"]["date"]} >= {"anniversary_in_next", "within_last"}
    quotes = next(s for s in meta["sources"] if s["name"] == "quotes")
    assert quotes["amount_field"] == "total" and quotes["tags"] is True
    import json
    json.dumps(meta)  # serializable as is

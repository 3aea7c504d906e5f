"""Each operator on real SQLite and PostgreSQL, at its edges, checked against the expected profiles
and against the reference evaluator."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session

from crm_segments.models import Profile, RfmScore
from crm_segments.segments.compiler import compile_rule
from crm_segments.segments.rules import parse_rule
from tests.factories import ProfileFactory
from tests.segments.reference import evaluate

NOW = dt.datetime(2024, 3, 15, 12, 0, tzinfo=dt.UTC)
TICK = dt.timedelta(microseconds=1)


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)  # type: ignore[misc]


def check(session: Session, people: dict[str, dict[str, Any]], doc: dict[str, Any], expected: set[str],
          *, now: dt.datetime = NOW, rfm: dict[str, dict[str, int]] | None = None) -> None:
    ids: dict[int, str] = {}
    data: dict[str, dict[str, Any]] = {}
    for label, fields in people.items():
        profile = ProfileFactory(**fields)
        ids[profile.id] = label
        data[label] = {"profile": {c.key: getattr(profile, c.key) for c in Profile.__table__.columns}}
        scores = (rfm or {}).get(label)
        if scores:
            session.add(RfmScore(profile_id=profile.id, computed_at=now, **scores))
            data[label]["rfm"] = scores
    session.flush()
    rule = parse_rule(doc)
    query = compile_rule(rule, now=now).where(Profile.id.in_(ids))
    assert {ids[i] for i in session.scalars(query)} == expected
    assert {label for label, d in data.items() if evaluate(rule, d, now=now)} == expected


TEXT_PEOPLE = {
    "upper": {"region": "ONTARIO"}, "plain": {"region": "Ontario"}, "none": {"region": None},
    "blank": {"region": "  "}, "empty": {"region": ""}, "wild": {"region": "50%_off/now"},
    "accent": {"region": "Ébec"}, "other": {"region": "Quebec"},
}


@pytest.mark.parametrize(("doc", "expected"), [
    ({"op": "eq", "value": "ontario"}, {"upper", "plain"}),
    ({"op": "neq", "value": "ontario"}, {"none", "blank", "empty", "wild", "accent", "other"}),
    ({"op": "in", "value": ["ONTARIO", "quebec"]}, {"upper", "plain", "other"}),
    ({"op": "not_in", "value": ["ontario"]}, {"none", "blank", "empty", "wild", "accent", "other"}),
    ({"op": "contains", "value": "TAR"}, {"upper", "plain"}),
    ({"op": "contains", "value": "%_"}, {"wild"}),  # wildcards match themselves
    ({"op": "contains", "value": "_"}, {"wild"}),
    ({"op": "contains", "value": "/"}, {"wild"}),
    ({"op": "not_contains", "value": "bec"}, {"upper", "plain", "none", "blank", "empty", "wild"}),
    ({"op": "starts_with", "value": "50%"}, {"wild"}),
    ({"op": "starts_with", "value": "%"}, set()),
    ({"op": "eq", "value": "ébec"}, set()),  # only ASCII letters fold, on every backend
    ({"op": "eq", "value": "Ébec"}, {"accent"}),
    ({"op": "is_empty"}, {"none", "blank", "empty"}),
    ({"op": "is_not_empty"}, {"upper", "plain", "wild", "accent", "other"}),
    ({"op": "is_set"}, {"upper", "plain", "blank", "empty", "wild", "accent", "other"}),
    ({"op": "is_not_set"}, {"none"}),
])
def test_text(session: Session, doc: dict[str, Any], expected: set[str]) -> None:
    check(session, TEXT_PEOPLE, {"field": "region", **doc}, expected)


NUMBER_PEOPLE = {"none": {"company_size": None}, "zero": {"company_size": 0},
                 "five": {"company_size": 5}, "six": {"company_size": 6}}


@pytest.mark.parametrize(("doc", "expected"), [
    ({"op": "eq", "value": 5}, {"five"}),
    ({"op": "neq", "value": 5}, {"none", "zero", "six"}),
    ({"op": "gt", "value": 5.5}, {"six"}),  # a fraction is not rounded into the integer column
    ({"op": "gte", "value": 5}, {"five", "six"}),
    ({"op": "lt", "value": 5}, {"zero"}),
    ({"op": "lte", "value": 5.0}, {"zero", "five"}),
    ({"op": "between", "value": [0, 5]}, {"zero", "five"}),
    ({"op": "is_not_set"}, {"none"}),
])
def test_number(session: Session, doc: dict[str, Any], expected: set[str]) -> None:
    check(session, NUMBER_PEOPLE, {"field": "company_size", **doc}, expected)


MONEY_PEOPLE = {"a": {"annual_revenue": Decimal("10.10")}, "b": {"annual_revenue": Decimal("30.30")},
                "c": {"annual_revenue": Decimal("30.31")}, "none": {"annual_revenue": None}}


@pytest.mark.parametrize(("doc", "expected"), [
    ({"op": "eq", "value": "30.3"}, {"b"}),
    ({"op": "gt", "value": 30.30}, {"c"}),
    ({"op": "between", "value": ["10.10", "30.30"]}, {"a", "b"}),
    ({"op": "neq", "value": 10.1}, {"b", "c", "none"}),
])
def test_money(session: Session, doc: dict[str, Any], expected: set[str]) -> None:
    check(session, MONEY_PEOPLE, {"field": "annual_revenue", **doc}, expected)


# now = 2024-03-15 12:00 UTC
STAMP_PEOPLE = {
    "now": {"updated_at": NOW},
    "14d": {"updated_at": NOW - dt.timedelta(days=14)},
    "14d-": {"updated_at": NOW - dt.timedelta(days=14) - TICK},
    "month": {"updated_at": at(2024, 2, 15, 12)},
    "midnight": {"updated_at": at(2024, 3, 1)},
    "before_midnight": {"updated_at": at(2024, 3, 1) - TICK},
    "future": {"updated_at": NOW + dt.timedelta(days=3)},
    "old": {"updated_at": at(2024, 2, 15, 12) - TICK},
}


@pytest.mark.parametrize(("doc", "expected"), [
    ({"op": "within_last", "value": 14, "unit": "days"}, {"now", "14d"}),
    ({"op": "within_last", "value": 2, "unit": "weeks"}, {"now", "14d"}),
    ({"op": "within_last", "value": 1, "unit": "months"},
     {"now", "14d", "14d-", "month", "midnight", "before_midnight"}),
    ({"op": "more_than_ago", "value": 14, "unit": "days"},
     {"14d-", "month", "midnight", "before_midnight", "old"}),
    ({"op": "more_than_ago", "value": 1, "unit": "months"}, {"old"}),
    ({"op": "in_next", "value": 3, "unit": "days"}, {"now", "future"}),
    ({"op": "on", "value": "2024-03-01"}, {"midnight", "14d", "14d-"}),  # a UTC day
    ({"op": "before", "value": "2024-03-01"}, {"before_midnight", "month", "old"}),
    ({"op": "after", "value": "2024-02-29"}, {"now", "14d", "14d-", "midnight", "future"}),
    ({"op": "between", "value": ["2024-02-29", "2024-03-01"]},
     {"midnight", "before_midnight", "14d-", "14d"}),
])
def test_timestamps(session: Session, doc: dict[str, Any], expected: set[str]) -> None:
    check(session, STAMP_PEOPLE, {"field": "updated_at", **doc}, expected)


DATE_PEOPLE = {
    "today": {"birth_date": dt.date(2024, 3, 15)}, "ago": {"birth_date": dt.date(2024, 2, 15)},
    "older": {"birth_date": dt.date(2024, 2, 14)}, "none": {"birth_date": None},
    "future": {"birth_date": dt.date(2024, 3, 22)},
}


@pytest.mark.parametrize(("doc", "expected"), [
    ({"op": "on", "value": "2024-03-15"}, {"today"}),
    ({"op": "before", "value": "2024-02-15"}, {"older"}),
    ({"op": "after", "value": "2024-02-15"}, {"today", "future"}),
    ({"op": "between", "value": ["2024-02-15", "2024-03-15"]}, {"today", "ago"}),
    ({"op": "within_last", "value": 1, "unit": "months"}, {"today", "ago"}),
    ({"op": "more_than_ago", "value": 1, "unit": "months"}, {"older"}),
    ({"op": "in_next", "value": 1, "unit": "weeks"}, {"today", "future"}),
    ({"op": "is_not_set"}, {"none"}),
])
def test_dates(session: Session, doc: dict[str, Any], expected: set[str]) -> None:
    check(session, DATE_PEOPLE, {"field": "birth_date", **doc}, expected)


BIRTHDAYS = {
    "dec28": {"birth_date": dt.date(1980, 12, 28)}, "dec31": {"birth_date": dt.date(1990, 12, 31)},
    "jan2": {"birth_date": dt.date(1985, 1, 2)}, "jan3": {"birth_date": dt.date(1985, 1, 3)},
    "feb28": {"birth_date": dt.date(1999, 2, 28)}, "feb29": {"birth_date": dt.date(2000, 2, 29)},
    "mar1": {"birth_date": dt.date(1970, 3, 1)}, "none": {"birth_date": None},
}


@pytest.mark.parametrize(("now", "days", "expected"), [
    (at(2023, 12, 28, 9), 5, {"dec28", "dec31", "jan2"}),  # the window wraps past New Year
    (at(2023, 12, 29, 9), 0, set()),
    (at(2023, 2, 27, 9), 1, {"feb28", "feb29"}),  # common year: Feb 29 is kept on Feb 28
    (at(2023, 3, 1, 0), 0, {"mar1"}),  # ... so it is over by Mar 1
    (at(2024, 2, 27, 9), 1, {"feb28"}),  # leap year: Feb 29 is its own day
    (at(2024, 2, 27, 9), 2, {"feb28", "feb29"}),
    (at(2024, 2, 29, 23, 59, 59), 1, {"feb29", "mar1"}),
    (at(2023, 6, 1), 365, {"dec28", "dec31", "jan2", "jan3", "feb28", "feb29", "mar1"}),
])
def test_anniversaries(session: Session, now: dt.datetime, days: int, expected: set[str]) -> None:
    check(session, BIRTHDAYS, {"field": "birth_date", "op": "anniversary_in_next", "value": days},
          expected, now=now)


def test_booleans_and_enums(session: Session) -> None:
    people = {"yes": {"email_consent": True, "gender": "female"},
              "no": {"email_consent": False, "gender": None},
              "male": {"email_consent": False, "gender": "male"}}
    check(session, people, {"field": "email_consent", "op": "is_true"}, {"yes"})
    check(session, people, {"field": "email_consent", "op": "is_false"}, {"no", "male"})
    check(session, people, {"field": "gender", "op": "eq", "value": "female"}, {"yes"})
    check(session, people, {"field": "gender", "op": "not_in", "value": ["female"]}, {"no", "male"})
    check(session, people, {"field": "gender", "op": "is_set"}, {"yes", "male"})


CUSTOM_PEOPLE = {
    "int": {"custom_attributes": {"pets": 2, "since": "2024-03-01", "vip": True, "nick": "Ont"}},
    "float": {"custom_attributes": {"pets": 2.5, "vip": False}},
    "text": {"custom_attributes": {"pets": "two", "since": 20240301, "vip": "yes", "nick": 5}},
    "null": {"custom_attributes": {"pets": None}},
    "empty": {"custom_attributes": {}},
    "none": {"custom_attributes": None},
}


@pytest.mark.parametrize(("doc", "expected"), [
    ({"field": "custom.pets", "type": "number", "op": "gte", "value": 2}, {"int", "float"}),
    ({"field": "custom.pets", "type": "number", "op": "eq", "value": 2.5}, {"float"}),
    ({"field": "custom.pets", "type": "number", "op": "is_set"}, {"int", "float"}),
    ({"field": "custom.pets", "type": "text", "op": "eq", "value": "TWO"}, {"text"}),
    ({"field": "custom.pets", "op": "is_empty"}, {"int", "float", "null", "empty", "none"}),
    ({"field": "custom.vip", "type": "boolean", "op": "is_true"}, {"int"}),
    ({"field": "custom.vip", "type": "boolean", "op": "is_false"}, {"float"}),
    ({"field": "custom.since", "type": "date", "op": "within_last", "value": 30, "unit": "days"}, {"int"}),
    ({"field": "custom.since", "type": "date", "op": "is_not_set"},
     {"float", "text", "null", "empty", "none"}),
    ({"field": "custom.nick", "op": "starts_with", "value": "on"}, {"int"}),
])
def test_custom_attributes_only_match_their_declared_type(session: Session, doc: dict[str, Any],
                                                          expected: set[str]) -> None:
    check(session, CUSTOM_PEOPLE, doc, expected)


def test_rfm_scores(session: Session) -> None:
    people: dict[str, dict[str, Any]] = {"top": {}, "low": {}, "unscored": {}}
    rfm = {"top": {"recency": 5, "frequency": 4, "monetary": 5},
           "low": {"recency": 1, "frequency": 1, "monetary": 2}}
    check(session, people, {"field": "rfm.recency", "op": "gte", "value": 4}, {"top"}, rfm=rfm)
    check(session, people, {"field": "rfm.monetary", "op": "neq", "value": 5}, {"low", "unscored"}, rfm=rfm)
    check(session, people, {"field": "rfm.frequency", "op": "is_not_set"}, {"unscored"}, rfm=rfm)

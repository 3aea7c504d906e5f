"""The compiler on real SQLite and PostgreSQL: the examples the product relies on."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from crm_segments.segments.compiler import compile_record_rule, compile_rule
from crm_segments.segments.rules import parse_rule
from tests.factories import JobFactory, ProfileFactory, QuoteFactory

NOW = dt.datetime(2024, 3, 15, 12, 0, tzinfo=dt.UTC)

QUOTED_NOT_CONVERTED = {"records": "quotes", "exists": True, "where": {"all": [
    {"field": "status", "op": "eq", "value": "sent"},
    {"field": "sent_at", "op": "more_than_ago", "value": 14, "unit": "days"},
    {"records": "jobs", "exists": False,
     "where": {"field": "created_at", "op": "after", "ref": "parent.sent_at"}},
]}}


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def matches(session: Session, doc: dict[str, Any], *, root: str = "profile") -> set[int]:
    rule = parse_rule(doc, root=root)
    query = compile_rule(rule, now=NOW) if root == "profile" else compile_record_rule(
        rule, entity=root, now=NOW)
    return set(session.scalars(query))


def test_quoted_not_converted(session: Session) -> None:
    waiting = ProfileFactory()
    QuoteFactory(profile=waiting, status="sent", sent_at=days_ago(20))
    converted = ProfileFactory()
    QuoteFactory(profile=converted, status="sent", sent_at=days_ago(20))
    JobFactory(profile=converted, created_at=days_ago(5))
    job_before_quote = ProfileFactory()  # an older job does not convert a newer quote
    QuoteFactory(profile=job_before_quote, status="sent", sent_at=days_ago(20))
    JobFactory(profile=job_before_quote, created_at=days_ago(40))
    too_recent = ProfileFactory()
    QuoteFactory(profile=too_recent, status="sent", sent_at=days_ago(3))
    draft = ProfileFactory()
    QuoteFactory(profile=draft, status="draft", sent_at=None)

    assert matches(session, QUOTED_NOT_CONVERTED) == {waiting.id, job_before_quote.id}


def test_record_rule_selects_quotes(session: Session) -> None:
    profile = ProfileFactory(region="Ontario")
    stale = QuoteFactory(profile=profile, status="sent", sent_at=days_ago(20))
    QuoteFactory(profile=profile, status="sent", sent_at=days_ago(2))
    elsewhere = ProfileFactory(region="Quebec")
    QuoteFactory(profile=elsewhere, status="sent", sent_at=days_ago(20))
    doc = {"all": [
        {"field": "sent_at", "op": "more_than_ago", "value": 14, "unit": "days"},
        {"profile": {"field": "region", "op": "eq", "value": "ontario"}},
    ]}
    assert matches(session, doc, root="quote") == {stale.id}

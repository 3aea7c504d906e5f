"""A related-records time window counts from a chosen date field of the record type."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from crm_segments.models import Segment
from crm_segments.segments.compiler import compile_rule
from crm_segments.segments.describe import describe
from crm_segments.segments.fields import SOURCES
from crm_segments.segments.rules import RecordCondition, RuleError, parse_rule, window_dates
from tests.factories import ProfileFactory, QuoteFactory
from tests.segments.test_segment_api import _api

NOW = dt.datetime(2024, 3, 15, 12, 0, tzinfo=dt.UTC)


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def sent_within(days: int, date: str | None = "sent_at") -> dict[str, Any]:
    window: dict[str, Any] = {"value": days, "unit": "days"}
    if date is not None:
        window["date"] = date
    return {"records": "quotes", "within": window, "exists": True}


def test_default_window_date_is_the_sources_own() -> None:
    cond = parse_rule(sent_within(7, None))
    assert isinstance(cond, RecordCondition)
    assert cond.within is not None and cond.within.date is None
    assert cond.window_field.name == SOURCES["quotes"].date_field == "created_at"
    tickets = parse_rule({"records": "tickets", "within": {"value": 7, "unit": "days"}, "exists": True})
    assert isinstance(tickets, RecordCondition) and tickets.window_field.name == "opened_at"


def test_chosen_date_is_read_and_described() -> None:
    cond = parse_rule(sent_within(7))
    assert isinstance(cond, RecordCondition) and cond.window_field.name == "sent_at"
    assert describe(cond) == "has a quote where sent in the last 7 days"
    assert describe(parse_rule(sent_within(7, None))) == "has a quote where created in the last 7 days"


def test_window_dates_come_from_the_registry() -> None:
    assert window_dates(SOURCES["quotes"]) == ("created_at", "sent_at", "decided_at", "expires_at",
                                               "updated_at")
    assert window_dates(SOURCES["purchases"]) == ("purchased_at",)


@pytest.mark.parametrize(("date", "words"), [
    ("total", "must be one of the date fields: created_at, sent_at"),  # a field, but not a date
    ("nope", "must be one of the date fields"),
    (3, "must be one of the date fields"),
])
def test_unknown_window_date_is_refused(date: Any, words: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule({"all": [sent_within(7, date)]})
    assert caught.value.path == "rule.all[0].within.date" and words in caught.value.message


def test_tag_windows_take_no_date() -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule({"tags": ["vip"], "added_within": {"value": 7, "unit": "days", "date": "created_at"}})
    assert caught.value.path == "rule.added_within.date"


def test_window_counts_from_the_chosen_date(session: Session) -> None:
    sent_lately = ProfileFactory()  # created long ago, sent this week
    QuoteFactory(profile=sent_lately, status="sent", created_at=days_ago(60), sent_at=days_ago(3))
    created_lately = ProfileFactory()  # created this week, sent long ago
    QuoteFactory(profile=created_lately, status="sent", created_at=days_ago(3), sent_at=days_ago(40))
    never_sent = ProfileFactory()
    QuoteFactory(profile=never_sent, status="draft", created_at=days_ago(2), sent_at=None)
    session.flush()
    everyone = {sent_lately.id, created_lately.id, never_sent.id}

    def members(doc: dict[str, Any]) -> set[int]:
        return set(session.scalars(compile_rule(parse_rule(doc), now=NOW))) & everyone

    assert members(sent_within(7)) == {sent_lately.id}
    assert members(sent_within(7, None)) == {created_lately.id, never_sent.id}
    assert members(sent_within(7, "created_at")) == {created_lately.id, never_sent.id}


def test_api_refuses_an_unknown_window_date(client: FlaskClient, session: Session) -> None:
    api = _api(client, session, "admin")
    before = session.query(Segment).count()
    bad = api.post("/segments", json={"name": "Sent lately", "rule": sent_within(7, "password_hash")})
    assert bad.status_code == 422
    assert bad.json["error"]["fields"][0]["field"] == "rule.within.date"
    assert session.query(Segment).count() == before
    good = api.post("/segments", json={"name": "Sent lately", "rule": sent_within(7)})
    assert good.status_code == 201 and good.json["rule"]["within"]["date"] == "sent_at"

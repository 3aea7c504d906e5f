"""The quote, job and opportunity lists: filters, keyset pagination, refused filters, roles."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.records import queries as record_queries
from crm_segments.records.queries import filtered_record_ids_select, validate_record_filter
from tests.factories import (
    JobFactory,
    JobTagFactory,
    OpportunityFactory,
    ProfileFactory,
    QuoteFactory,
    QuoteTagFactory,
    TagFactory,
)


def _at(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), tzinfo=dt.UTC)


@pytest.fixture
def quotes(session: Session) -> dict[str, Any]:
    ada = ProfileFactory(first_name="Ada", last_name="Lovelace", email="ada@analytical.example")
    alan = ProfileFactory(first_name="Alan", last_name="Turing", email="alan@bletchley.example")
    vip = TagFactory(name="VIP", name_key="vip")
    rows = {
        "a1": QuoteFactory(profile=ada, number="Q-A1", status="sent", total=Decimal("500.00"),
                           sent_at=_at("2026-01-10")),
        "a2": QuoteFactory(profile=ada, number="Q-A2", status="accepted", total=Decimal("1500.00"),
                           sent_at=_at("2026-02-01", 0)),
        "a3": QuoteFactory(profile=ada, number="Q-A3", status="draft", total=Decimal("2500.00"),
                           sent_at=None),
        "t1": QuoteFactory(profile=alan, number="Q-T1", status="sent", total=Decimal("1500.00"),
                           sent_at=_at("2026-02-28", 23)),
        "t2": QuoteFactory(profile=alan, number="Q-T2", status="sent", total=Decimal("9000.00"),
                           sent_at=_at("2026-03-01", 0)),
    }
    QuoteTagFactory(quote=rows["a2"], tag=vip)
    QuoteTagFactory(quote=rows["t2"], tag=vip)
    return rows


def _numbers(session: Session, entity_type: str = "quote", **filters: Any) -> set[str]:
    record_filter = validate_record_filter(entity_type, **filters)
    page = record_queries.list_records(session=session, record_filter=record_filter, limit=200)
    listed = {record_filter.kind.display_label(r) for r in page.rows}
    # The bulk selection's select of ids is the same filter: it must choose exactly the listed rows.
    chosen = set(session.scalars(filtered_record_ids_select(record_filter)))
    assert chosen == {r.id for r in page.rows}
    return listed


@pytest.mark.parametrize(("filters", "expected"), [
    ({}, {"Q-A1", "Q-A2", "Q-A3", "Q-T1", "Q-T2"}),
    ({"status": "sent"}, {"Q-A1", "Q-T1", "Q-T2"}),
    ({"q": "lovelace"}, {"Q-A1", "Q-A2", "Q-A3"}),
    ({"q": "ALAN@"}, {"Q-T1", "Q-T2"}),
    ({"q": "ada love"}, {"Q-A1", "Q-A2", "Q-A3"}),
    ({"q": "zzz"}, set()),
    ({"tag": "vip"}, {"Q-A2", "Q-T2"}),
    ({"tag": "unknown"}, set()),
    # Whole UTC days, both ends included: 2026-02-01 00:00 and 2026-02-28 23:00 are in, 03-01 is not.
    ({"date_from": "2026-02-01", "date_to": "2026-02-28"}, {"Q-A2", "Q-T1"}),
    ({"date_from": "2026-02-01"}, {"Q-A2", "Q-T1", "Q-T2"}),
    ({"date_to": "2026-01-31"}, {"Q-A1"}),
    ({"amount_min": "1500"}, {"Q-A2", "Q-A3", "Q-T1", "Q-T2"}),
    ({"amount_max": "1,500.00"}, {"Q-A1", "Q-A2", "Q-T1"}),
    ({"amount_min": "1000", "amount_max": "2000", "status": "sent"}, {"Q-T1"}),
    ({"status": "sent", "tag": "VIP", "q": "turing", "date_from": "2026-03-01"}, {"Q-T2"}),
])
def test_quote_filters(session: Session, quotes: dict[str, Any], filters: dict[str, str],
                       expected: set[str]) -> None:
    assert _numbers(session, **filters) == expected


def test_job_and_opportunity_filters_use_their_own_fields(session: Session) -> None:
    grace = ProfileFactory(first_name="Grace", last_name="Hopper")
    JobFactory(profile=grace, title="Install", status="completed", amount=Decimal("800"),
               finished_at=_at("2026-04-02"))
    JobFactory(profile=grace, title="Repair", status="scheduled", amount=Decimal("200"), finished_at=None)
    rush = JobFactory(title="Rush", status="completed", amount=Decimal("5000"), finished_at=_at("2026-05-01"))
    JobTagFactory(job=rush, tag=TagFactory(name="Rush", name_key="rush"))
    assert _numbers(session, "job", status="completed") == {"Install", "Rush"}
    assert _numbers(session, "job", date_from="2026-04-01", date_to="2026-04-30") == {"Install"}
    assert _numbers(session, "job", q="hopper", amount_max="500") == {"Repair"}
    assert _numbers(session, "job", tag="RUSH") == {"Rush"}
    OpportunityFactory(profile=grace, name="Big deal", stage="won", value=Decimal("50000"),
                       expected_close=dt.date(2026, 6, 30))
    OpportunityFactory(name="Small deal", stage="proposal", value=Decimal("900"),
                       expected_close=dt.date(2026, 7, 1))
    assert _numbers(session, "opportunity", status="won") == {"Big deal"}
    assert _numbers(session, "opportunity", date_to="2026-06-30") == {"Big deal"}
    assert _numbers(session, "opportunity", date_from="2026-07-01", amount_min="900") == {"Small deal"}


@pytest.mark.parametrize(("entity_type", "filters", "field", "message"), [
    ("quote", {"status": "won"}, "status", "must be one of: draft, sent"),
    ("opportunity", {"status": "sent"}, "stage", "must be one of: prospecting"),
    ("quote", {"date_from": "31/01/2026"}, "date_from", "must be a date"),
    ("quote", {"date_from": "2026-03-01", "date_to": "2026-02-01"}, "date_to", "not be before date_from"),
    ("job", {"amount_min": "lots"}, "amount_min", "must be an amount"),
    ("job", {"amount_max": "-5"}, "amount_max", "must be between 0"),
    ("job", {"amount_min": "NaN"}, "amount_min", "must be an amount"),
    ("opportunity", {"amount_min": "10", "amount_max": "5"}, "amount_max", "not be less than amount_min"),
    ("quote", {"q": "x" * 101}, "q", "longer than 100"),
    ("ticket", {}, "entity_type", "must be one of quote, job, opportunity"),
])
def test_bad_filters_are_refused_naming_the_field(entity_type: str, filters: dict[str, str], field: str,
                                                  message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        validate_record_filter(entity_type, **filters)
    assert [e.field for e in refused.value.errors] == [field]
    assert message in refused.value.errors[0].message


def test_keyset_pages_forward_and_back(session: Session) -> None:
    profile = ProfileFactory()
    ids = [QuoteFactory(profile=profile, status="sent").id for _ in range(5)]
    QuoteFactory(profile=profile, status="draft")  # filtered out, in the middle of the id range
    ids += [QuoteFactory(profile=profile, status="sent").id for _ in range(2)]
    sent = validate_record_filter("quote", status="sent")

    def page(**cursor: int) -> record_queries.RecordPage:
        return record_queries.list_records(session=session, record_filter=sent, limit=3, **cursor)

    first = page()
    assert [r.id for r in first.rows] == ids[:3] and first.prev_before is None
    assert first.next_after is not None
    second = page(after=first.next_after)
    assert [r.id for r in second.rows] == ids[3:6] and second.prev_before == ids[3]
    assert second.next_after is not None
    last = page(after=second.next_after)
    assert [r.id for r in last.rows] == ids[6:] and last.next_after is None
    back = page(before=last.prev_before or 0)
    assert [r.id for r in back.rows] == ids[3:6] and back.prev_before == ids[3]
    assert [r.id for r in page(before=back.prev_before or 0).rows] == ids[:3]


def test_list_page_filters_and_links_pages(app: Flask, sales_client: FlaskClient,
                                           quotes: dict[str, Any]) -> None:
    app.config["CRM_SEGMENTS_PAGE_SIZE"] = 2
    response = sales_client.get("/quotes?status=sent")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Q-A1" in text and "Q-T1" in text and "Q-T2" not in text and "Q-A2" not in text
    assert f'href="/quotes/{quotes["a1"].id}"' in text and f'data-row-id="{quotes["t1"].id}"' in text
    assert f'href="/profiles/{quotes["a1"].profile_id}"' in text and "Ada Lovelace" in text
    assert "500.00 USD" in text
    next_url = re.search(r'rel="next" href="([^"]+)"', text)
    assert next_url is not None
    second = sales_client.get(next_url.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "Q-T2" in second and "Q-A1" not in second and 'rel="next"' not in second
    assert 'rel="prev"' in second
    # The bulk bar tags the same list: its hidden fields carry the filter and the record type.
    assert 'name="entity_type" value="quote"' in text and 'name="status" value="sent"' in text
    assert 'data-table="records-table"' in text and "every quote matching these filters" in text


def test_tag_badges_and_other_kinds_render(sales_client: FlaskClient, quotes: dict[str, Any]) -> None:
    text = sales_client.get("/quotes?tag=vip").get_data(as_text=True)
    assert ">VIP</span>" in text and "Q-A2" in text and "Q-A1" not in text
    JobFactory(title="Fit kitchen", status="in_progress")
    jobs = sales_client.get("/jobs").get_data(as_text=True)
    assert "Fit kitchen" in jobs and "in progress" in jobs and "Finished" in jobs
    OpportunityFactory(name="Hotel chain", stage="negotiation", expected_close=dt.date(2026, 9, 1))
    opportunities = sales_client.get("/opportunities?stage=negotiation").get_data(as_text=True)
    assert "Hotel chain" in opportunities and "2026-09-01" in opportunities


@pytest.mark.parametrize(("url", "message"), [
    ("/quotes?amount_min=abc", "amount_min: must be an amount"),
    ("/quotes?status=won", "status: must be one of"),
    ("/opportunities?stage=sent", "stage: must be one of"),
    ("/jobs?date_from=2026-13-01", "date_from: must be a date"),
    ("/quotes?after=x", "after: must be a record id"),
])
def test_bad_filter_in_the_page_is_named(sales_client: FlaskClient, url: str, message: str) -> None:
    response = sales_client.get(url)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert message in text
    assert ("field-invalid" in text) == (not url.endswith("after=x"))  # the bad field is marked
    assert 'id="bulk-tag-bar"' not in text  # nothing to act on while the filter is refused


def test_sales_and_admins_see_the_lists_and_signed_out_visitors_sign_in(
        sales_client: FlaskClient, app: Flask, quotes: dict[str, Any]) -> None:
    page = sales_client.get("/records")
    assert page.status_code == 302 and page.headers["Location"] == "/quotes"
    nav = sales_client.get("/quotes").get_data(as_text=True).split('<nav class="mainnav"', 1)[1]
    assert 'href="/records" class="active"' in nav.split("</nav>", 1)[0]
    assert sales_client.get("/jobs").status_code == 200
    with app.test_client() as visitor:
        assert visitor.get("/opportunities").status_code == 302
        assert "/login" in visitor.get("/quotes").headers["Location"]


def test_admins_see_the_lists(admin_client: FlaskClient, quotes: dict[str, Any]) -> None:
    text = admin_client.get("/quotes?q=turing").get_data(as_text=True)
    assert "Q-T1" in text and "Q-A1" not in text


def test_tag_filter_offers_the_tags_this_kind_carries(session: Session) -> None:
    tags = [TagFactory(name=name, name_key=name.lower()) for name in ("Zeta", "alpha", "Mid", "Jobs only")]
    for tag in tags[:3]:
        QuoteTagFactory(quote=QuoteFactory(), tag=tag)
    QuoteTagFactory(quote=QuoteFactory(), tag=tags[0])
    JobTagFactory(job=JobFactory(), tag=tags[3])
    assert record_queries.tag_names(session=session, entity_type="quote") == ["alpha", "Mid", "Zeta"]
    assert record_queries.tag_names(session=session, entity_type="job") == ["Jobs only"]
    assert record_queries.tag_names(session=session, entity_type="opportunity") == []

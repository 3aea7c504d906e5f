"""Quote, job and opportunity pages: lines, links, tags with the full editor, tag history, roles."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.models import QuoteTag, Tag, TagEvent
from crm_segments.tagging import manual
from tests.factories import (
    JobFactory,
    JobLineFactory,
    OpportunityFactory,
    ProductFactory,
    ProfileFactory,
    QuoteFactory,
    QuoteLineFactory,
    QuoteTagFactory,
    TagFactory,
)
from tests.tagging.helpers import make_rule
from tests.web.conftest import csrf_token_from


def test_quote_page_shows_lines_totals_job_profile_and_tags(sales_client: FlaskClient) -> None:
    profile = ProfileFactory(first_name="Ada", last_name="Lovelace", email="ada@analytical.example")
    quote = QuoteFactory(profile=profile, number="Q-ENGINE", status="accepted", total=Decimal("1350.00"),
                         sent_at=dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.UTC),
                         decided_at=dt.datetime(2026, 1, 20, 10, 0, tzinfo=dt.UTC))
    gears = ProductFactory(name="Brass gears", sku="GEAR-1")
    QuoteLineFactory(quote=quote, product=gears, description="Difference engine gears",
                     quantity=Decimal("3"), unit_price=Decimal("250.00"))
    QuoteLineFactory(quote=quote, description="Assembly", quantity=Decimal("1"), unit_price=Decimal("600.00"))
    job = JobFactory(profile=profile, quote_id=quote.id, title="Build the engine", status="scheduled")
    QuoteTagFactory(quote=quote, tag=TagFactory(name="Priority", name_key="priority"))
    response = sales_client.get(f"/quotes/{quote.id}")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "Quote Q-ENGINE" in text and "accepted" in text
    assert "Difference engine gears" in text and "Brass gears" in text and "GEAR-1" in text
    assert "750.00 USD" in text and "600.00 USD" in text and "Lines total" in text and "1,350.00 USD" in text
    assert "2026-01-05 09:30 UTC" in text and "2026-01-20 10:00 UTC" in text
    assert f'href="/jobs/{job.id}"' in text and "Build the engine" in text
    assert f'href="/profiles/{profile.id}"' in text and "Ada Lovelace" in text
    assert ">Priority</span>" in text
    assert f'data-add-url="/tags/entity/quote/{quote.id}/add"' in text  # the full editor, not compact
    assert "tag-editor-compact" not in text


def test_job_page_shows_lines_schedule_and_its_quote(sales_client: FlaskClient) -> None:
    quote = QuoteFactory(number="Q-ORIGIN")
    job = JobFactory(profile_id=quote.profile_id, quote_id=quote.id, title="Roof repair",
                     status="in_progress", amount=Decimal("480.00"), currency="EUR",
                     scheduled_at=dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC),
                     started_at=dt.datetime(2026, 3, 3, 8, 0, tzinfo=dt.UTC), finished_at=None)
    JobLineFactory(job=job, description="Tiles", quantity=Decimal("12"), unit_price=Decimal("40.00"))
    text = sales_client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "Job Roof repair" in text and "in progress" in text
    assert "Tiles" in text and "480.00 EUR" in text and "12" in text
    assert "2026-03-02 08:00 UTC" in text and "2026-03-03 08:00 UTC" in text
    assert f'href="/quotes/{quote.id}"' in text and "Made from quote" in text and "Q-ORIGIN" in text
    alone = JobFactory(title="Walk-in", quote_id=None)
    assert "Not made from a quote" in sales_client.get(f"/jobs/{alone.id}").get_data(as_text=True)


def test_opportunity_page_shows_stage_value_source_and_outcome(admin_client: FlaskClient) -> None:
    won = OpportunityFactory(name="Hotel chain", stage="won", value=Decimal("75000.00"), source="trade show",
                             expected_close=dt.date(2026, 6, 30),
                             closed_at=dt.datetime(2026, 6, 12, 15, 0, tzinfo=dt.UTC))
    text = admin_client.get(f"/opportunities/{won.id}").get_data(as_text=True)
    assert "Opportunity Hotel chain" in text and "75,000.00 USD" in text and "trade show" in text
    assert "2026-06-30" in text and "2026-06-12 15:00 UTC" in text
    assert 'badge-won">won</span>' in text and "Lines" not in text
    open_deal = OpportunityFactory(name="Open deal", stage="proposal")
    assert '<span class="muted">open</span>' in admin_client.get(f"/opportunities/{open_deal.id}").get_data(
        as_text=True)


def test_adding_a_tag_on_the_page_tags_the_record_and_shows_in_history(
        sales_client: FlaskClient, session: Session) -> None:
    quote = QuoteFactory(number="Q-TAGME")
    page = sales_client.get(f"/quotes/{quote.id}")
    token = csrf_token_from(page)
    assert f'name="next" value="/quotes/{quote.id}?"' in page.get_data(as_text=True)
    # Without JavaScript: the editor's plain form, back to the record page.
    added = sales_client.post(f"/tags/entity/quote/{quote.id}/add",
                              data={"name": "Follow up", "csrf_token": token, "next": f"/quotes/{quote.id}"})
    assert added.status_code == 302 and added.headers["Location"] == f"/quotes/{quote.id}"
    tag = session.scalars(select(Tag).where(Tag.name_key == "follow up")).one()
    assert session.scalars(select(QuoteTag.entity_id).where(QuoteTag.tag_id == tag.id)).all() == [quote.id]
    # With JavaScript: JSON in and out.
    as_json = sales_client.post(f"/tags/entity/quote/{quote.id}/add", json={"name": "Hot"},
                                headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert as_json.status_code == 201 and as_json.json["tag"]["name"] == "Hot"
    text = sales_client.get(f"/quotes/{quote.id}").get_data(as_text=True)
    assert ">Follow up</span>" in text and ">Hot</span>" in text
    history = text.split('id="tag-history"', 1)[1]
    assert "Follow up" in history and "Hot" in history and "Sam Sales" in history
    assert "No tag changes yet" not in history


def test_history_shows_only_this_record(sales_client: FlaskClient, session: Session) -> None:
    profile = ProfileFactory()
    mine, other = QuoteFactory(profile=profile), QuoteFactory(profile=profile)
    manual.add_tag(session=session, entity_type="quote", entity_id=other.id, tag_name="Elsewhere")
    manual.add_tag(session=session, entity_type="profile", entity_id=profile.id, tag_name="On profile")
    text = sales_client.get(f"/quotes/{mine.id}").get_data(as_text=True)
    assert "No tag changes yet" in text and "Elsewhere" not in text and "On profile" not in text
    assert session.scalar(select(TagEvent.id).where(TagEvent.entity_id == other.id)) is not None


def test_removing_an_automatic_tag_shows_the_suppression(sales_client: FlaskClient, session: Session) -> None:
    tag = TagFactory(name="Big job", name_key="big job")
    make_rule(session, tag, entity_type="job", condition={"field": "amount", "op": "gte", "value": 1})
    job = JobFactory(title="Extension")
    token = csrf_token_from(sales_client.get(f"/jobs/{job.id}"))
    manual.add_tag(session=session, entity_type="job", entity_id=job.id, tag_id=tag.id)
    removed = sales_client.post(f"/tags/entity/job/{job.id}/remove",
                                data={"tag_id": tag.id, "csrf_token": token, "next": f"/jobs/{job.id}"})
    assert removed.status_code == 302
    text = sales_client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "kept off by automatic rules" in text
    assert f"/tags/entity/job/{job.id}/suppressions/{tag.id}/clear" in text


def test_csrf_is_required_to_tag_from_a_record_page(sales_client: FlaskClient, session: Session) -> None:
    opportunity = OpportunityFactory()
    refused = sales_client.post(f"/tags/entity/opportunity/{opportunity.id}/add", data={"name": "Nope"})
    assert refused.status_code == 400
    assert session.scalar(select(Tag).where(Tag.name_key == "nope")) is None


def test_missing_records_are_404_and_visitors_sign_in(sales_client: FlaskClient, app: Flask) -> None:
    assert sales_client.get("/quotes/999999").status_code == 404
    assert sales_client.get("/tickets/1").status_code == 404
    job = JobFactory()
    with app.test_client() as visitor:
        assert "/login" in visitor.get(f"/jobs/{job.id}").headers["Location"]


def test_profile_page_links_its_records(sales_client: FlaskClient) -> None:
    profile = ProfileFactory()
    quote = QuoteFactory(profile=profile, number="Q-LINKED")
    job = JobFactory(profile=profile, quote_id=quote.id)
    opportunity = OpportunityFactory(profile=profile)
    text = sales_client.get(f"/profiles/{profile.id}").get_data(as_text=True)
    for url in (f"/quotes/{quote.id}", f"/jobs/{job.id}", f"/opportunities/{opportunity.id}"):
        assert f'href="{url}"' in text

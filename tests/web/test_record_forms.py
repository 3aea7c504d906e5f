"""Create and edit profiles and records in the UI, status changes, owners, and the read-only setting."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.models import Job, Profile, Quote, SupportTicket, User
from crm_segments.state import get_state
from tests.factories import JobFactory, ProductFactory, ProfileFactory, QuoteFactory, QuoteLineFactory
from tests.web.conftest import csrf_token_from


def _post(client: FlaskClient, url: str, data: dict[str, str]) -> object:
    token = csrf_token_from(client.get(url))
    return client.post(url, data={"csrf_token": token, **data})


def test_a_sales_person_creates_a_profile_they_own_and_edits_it(sales_client: FlaskClient,
                                                                 sales_user: User, session: Session) -> None:
    form = sales_client.get("/profiles/new").get_data(as_text=True)
    assert f'<option value="{sales_user.id}" selected>' in form  # the owner is who creates it
    assert 'name="external_id"' in form and 'name="lifecycle_status"' in form and 'for="f-birth_date"' in form
    created = _post(sales_client, "/profiles/new", {
        "external_id": "P-NEW", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
        "owner_id": str(sales_user.id), "lifecycle_status": "prospect", "interests": "gears, poetry",
        "custom_attributes": '{"tier": 2}', "annual_revenue": "1200.5"})
    assert created.status_code == 302  # type: ignore[attr-defined]
    ada = session.scalars(select(Profile).where(Profile.external_id == "P-NEW")).one()
    assert (ada.owner_id, ada.lifecycle_status) == (sales_user.id, "prospect")
    assert ada.interests == ["gears", "poetry"]
    assert ada.custom_attributes == {"tier": 2} and ada.annual_revenue == Decimal("1200.50")
    page = sales_client.get(f"/profiles/{ada.id}").get_data(as_text=True)
    assert "Owner: Sam Sales" in page and f'href="/profiles/{ada.id}/quotes/new"' in page

    edited = _post(sales_client, f"/profiles/{ada.id}/edit", {
        "external_id": "P-NEW", "first_name": "Ada", "last_name": "", "owner_id": "",
        "lifecycle_status": "customer", "email": "ada@example.com", "interests": "gears",
        "custom_attributes": '{"tier": 2}', "annual_revenue": "1200.50"})
    assert edited.status_code == 302  # type: ignore[attr-defined]
    session.refresh(ada)
    assert (ada.last_name, ada.owner_id, ada.lifecycle_status) == (None, None, "customer")
    assert ada.interests == ["gears"]


def test_bad_input_shows_the_api_messages_and_writes_nothing(sales_client: FlaskClient,
                                                             session: Session) -> None:
    response = _post(sales_client, "/profiles/new", {"external_id": "P-BAD", "email": "not an address",
                                                     "phone": "12", "lifecycle_status": "lead"})
    text = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert 'aria-describedby="err-email"' in text and "E.164" in text and 'value="not an address"' in text
    assert session.scalars(select(Profile).where(Profile.external_id == "P-BAD")).first() is None


def test_a_quote_with_lines_is_created_sent_and_accepted(sales_client: FlaskClient, session: Session) -> None:
    profile = ProfileFactory()
    ProductFactory(sku="GEAR-1", name="Gear")
    created = _post(sales_client, f"/profiles/{profile.id}/quotes/new", {
        "external_id": "Q-1", "number": "Q-0001", "status": "draft", "currency": "usd",
        "lines-0-description": "Gears", "lines-0-product_sku": "GEAR-1", "lines-0-quantity": "3",
        "lines-0-unit_price": "250", "lines-1-description": "Assembly", "lines-1-quantity": "1",
        "lines-1-unit_price": "600", "lines-2-description": ""})
    quote = session.scalars(select(Quote).where(Quote.external_id == "Q-1")).one()
    assert created.headers["Location"] == f"/quotes/{quote.id}"  # type: ignore[attr-defined]
    assert (quote.profile_id, quote.total, quote.currency, len(quote.lines)) == (
        profile.id, Decimal("1350.00"), "USD", 2)
    assert quote.lines[0].product_id is not None

    page = sales_client.get(f"/quotes/{quote.id}")
    assert ">Mark sent</button>" in page.get_data(as_text=True)
    token = csrf_token_from(page)
    sales_client.post(f"/quotes/{quote.id}/status", data={"csrf_token": token, "status": "accepted"})
    session.refresh(quote)
    assert quote.status == "draft"  # a draft is not accepted before it is sent
    sales_client.post(f"/quotes/{quote.id}/status", data={"csrf_token": token, "status": "sent"})
    session.refresh(quote)
    assert quote.status == "sent" and quote.sent_at is not None
    sales_client.post(f"/quotes/{quote.id}/status", data={"csrf_token": token, "status": "accepted"})
    session.refresh(quote)
    assert quote.status == "accepted" and quote.decided_at is not None


def test_editing_a_quote_keeps_its_lines_products(sales_client: FlaskClient, session: Session) -> None:
    quote = QuoteFactory(number="Q-9", status="draft")
    QuoteLineFactory(quote=quote, product=ProductFactory(sku="BOLT-2"), description="Bolts",
                     quantity=Decimal("2"), unit_price=Decimal("5.00"))
    form = sales_client.get(f"/quotes/{quote.id}/edit").get_data(as_text=True)
    assert 'value="BOLT-2"' in form and 'aria-label="Line 1 quantity"' in form
    saved = _post(sales_client, f"/quotes/{quote.id}/edit", {
        "external_id": quote.external_id, "number": "Q-9b", "status": "draft", "currency": "USD",
        "lines-0-description": "Bolts", "lines-0-product_sku": "BOLT-2", "lines-0-quantity": "4",
        "lines-0-unit_price": "5.00"})
    assert saved.status_code == 302  # type: ignore[attr-defined]
    session.refresh(quote)
    assert (quote.number, quote.total) == ("Q-9b", Decimal("20.00"))
    assert quote.lines[0].product_id is not None


def test_a_job_is_completed_and_a_ticket_created_and_edited(sales_client: FlaskClient,
                                                            session: Session) -> None:
    job = JobFactory(status="scheduled", finished_at=None)
    page = sales_client.get(f"/jobs/{job.id}")
    sales_client.post(f"/jobs/{job.id}/status",
                      data={"csrf_token": csrf_token_from(page), "status": "completed"})
    session.refresh(job)
    assert job.status == "completed" and job.finished_at is not None

    _post(sales_client, f"/profiles/{job.profile_id}/tickets/new", {
        "external_id": "T-1", "subject": "Leaking roof", "body": "Since Monday", "status": "open",
        "priority": "high"})
    ticket = session.scalars(select(SupportTicket).where(SupportTicket.external_id == "T-1")).one()
    assert (ticket.profile_id, ticket.priority) == (job.profile_id, "high")
    assert ticket.opened_at is not None
    _post(sales_client, f"/tickets/{ticket.id}/edit", {
        "external_id": "T-1", "subject": "Leaking roof", "body": "Since Monday", "status": "solved",
        "priority": "high"})
    session.refresh(ticket)
    assert ticket.status == "solved" and ticket.closed_at is not None
    assert session.scalar(select(Job.status).where(Job.id == job.id)) == "completed"


def test_owners_are_set_in_bulk(sales_client: FlaskClient, sales_user: User, session: Session) -> None:
    first, second, other = ProfileFactory(), ProfileFactory(), ProfileFactory()
    token = csrf_token_from(sales_client.get("/profiles"))
    response = sales_client.post("/profiles/owner", data={
        "csrf_token": token, "profile_id": [str(first.id), str(second.id)], "owner_id": str(sales_user.id)})
    assert response.status_code == 302
    owners = {p.id: p.owner_id for p in session.scalars(select(Profile))}
    assert owners[first.id] == owners[second.id] == sales_user.id and owners[other.id] is None


@pytest.mark.parametrize("url", ["/profiles/new", "/quotes/{quote}/edit", "/profiles/{profile}/jobs/new"])
def test_read_only_records_have_no_forms(app: Flask, sales_client: FlaskClient, url: str) -> None:
    quote = QuoteFactory()
    get_state(app).settings = dataclasses.replace(get_state(app).settings, records_read_only=True)
    assert sales_client.get(url.format(quote=quote.id, profile=quote.profile_id)).status_code == 403
    assert "Mark sent" not in sales_client.get(f"/quotes/{quote.id}").get_data(as_text=True)
    assert "New profile" not in sales_client.get("/profiles").get_data(as_text=True)

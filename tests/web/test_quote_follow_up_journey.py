"""The flagship journey without a browser: a quote is sent, goes unanswered for two weeks, and the
scheduler's own jobs send the quote follow-up email for it, whether the quote came from the UI,
the API or a CSV import."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.accounts import users
from crm_segments.db import utcnow
from crm_segments.models import (
    Enrollment,
    Message,
    Quote,
    Segment,
    SegmentEvent,
    SegmentMember,
    User,
    Workflow,
)
from crm_segments.scheduler.jobs import run_job
from crm_segments.state import get_state
from crm_segments.wiring import install_defaults
from crm_segments.workflows.lifecycle import set_status
from tests.factories import AdminFactory, QuoteFactory
from tests.signed_in import csrf_token_from, login
from tests.tasks import follow_task
from tests.web.api.conftest import Api

# The shipped segment counts a quote as unanswered 14 days after it was sent.
LATER = dt.timedelta(days=15)
# What the scheduler runs, in the order a change travels: segments, enrollment, steps, sending.
JOBS = ("segments.refresh_due", "workflows.enroll", "workflows.advance", "messages.dispatch_due")


@pytest.fixture
def follow_up(session: Session) -> Workflow:
    """The shipped defaults as `init-db` makes them, with the quote follow-up turned on."""
    install_defaults(session=session)
    workflow = session.scalars(select(Workflow).where(Workflow.key == "quote_follow_up")).one()
    set_status(session=session, workflow_id=workflow.id, status="active", now=utcnow())
    session.flush()
    return workflow


def _post_form(client: FlaskClient, url: str, data: dict[str, str]) -> str:
    """Submit the form at ``url`` with the values it was served with, as a browser would."""
    page = client.get(url)
    suggested = {"external_id": value} if (value := _field_value(page.get_data(as_text=True))) else {}
    response = client.post(url, data={"csrf_token": csrf_token_from(page), **suggested, **data})
    assert response.status_code == 302, response.get_data(as_text=True)
    return str(response.location)


def _field_value(html: str) -> str | None:
    match = re.search(r'name="external_id"[^>]*value="([^"]*)"', html)
    return match.group(1) if match else None


def _two_weeks_on(app: Flask, session: Session, quote: Quote) -> Message:
    """Run the scheduler's jobs when the quote has waited unanswered; the follow-up it sent."""
    later = utcnow() + LATER
    for job in JOBS:
        run_job(job, later, state=get_state(app))
    session.expire_all()
    [enrollment] = session.scalars(select(Enrollment).join(Workflow, Workflow.id == Enrollment.workflow_id)
                                   .where(Workflow.key == "quote_follow_up")).all()
    assert (enrollment.trigger_record_type, enrollment.trigger_record_id) == ("quote", quote.id)
    [sent] = session.scalars(select(Message).where(Message.template_key == "sales/quote_follow_up")).all()
    assert (sent.record_type, sent.record_id, sent.status) == ("quote", quote.id, "sent")
    return sent


def test_a_quote_sent_from_the_ui_is_followed_up(app: Flask, follow_up: Workflow, sales_client: FlaskClient,
                                                 sales_user: User, session: Session) -> None:
    profile_url = _post_form(sales_client, "/profiles/new", {
        "first_name": "Grace", "last_name": "Hopper", "email": "grace@navy.example",
        "lifecycle_status": "lead", "owner_id": str(sales_user.id)})
    profile_id = int(profile_url.rsplit("/", 1)[1])
    admin = app.test_client()
    assert login(admin, AdminFactory().email).status_code == 302
    page = admin.get(profile_url)
    consent = admin.post(f"/profiles/{profile_id}/consent", data={
        "csrf_token": csrf_token_from(page), "channel": "email", "granted": "1",
        "note": "Signed form at the fair"})
    assert consent.status_code == 302

    quote_url = _post_form(sales_client, f"/profiles/{profile_id}/quotes/new", {
        "number": "Q-2026-7", "status": "draft", "currency": "USD",
        "lines-0-description": "Compiler consulting", "lines-0-quantity": "2", "lines-0-unit_price": "450"})
    marked = sales_client.post(f"{quote_url}/status", data={
        "csrf_token": csrf_token_from(sales_client.get(quote_url)), "status": "sent"})
    assert marked.status_code == 302
    quote = session.scalars(select(Quote).where(Quote.number == "Q-2026-7")).one()
    assert quote.status == "sent"

    _two_weeks_on(app, session, quote)


def test_a_quote_sent_through_the_api_is_followed_up(app: Flask, client: FlaskClient, follow_up: Workflow,
                                                     session: Session) -> None:
    admin = AdminFactory()
    api = Api(client, users.create_api_key(session=session, email=admin.email, name="host CRM")[1])
    created = api.post("/profiles", json={"external_id": "P-API", "first_name": "Grace",
                                          "email": "grace@navy.example", "email_consent": True})
    assert created.status_code == 201, created.get_json()
    quote = api.post("/quotes", json={"external_id": "Q-API", "profile_external_id": "P-API",
                                      "number": "Q-API-1", "status": "sent", "total": "900.00"})
    assert quote.status_code == 201, quote.get_json()

    _two_weeks_on(app, session, session.get(Quote, quote.get_json()["id"]))


def test_a_quote_imported_as_sent_is_followed_up(app: Flask, follow_up: Workflow, admin_client: FlaskClient,
                                                 session: Session) -> None:
    for kind, content in (
        ("profiles", b"external_id,first_name,email,email_consent\nP-CSV,Grace,grace@navy.example,true\n"),
        ("quotes", b"external_id,profile_external_id,number,status,total\nQ-CSV,P-CSV,Q-CSV-1,sent,900\n"),
    ):
        response = admin_client.post("/import", content_type="multipart/form-data", data={
            "kind": kind, "csrf_token": csrf_token_from(admin_client.get("/import")),
            "file": (io.BytesIO(content), f"{kind}.csv")})
        assert "1 rows, 1 created" in follow_task(admin_client, response)
    quote = session.scalars(select(Quote).where(Quote.external_id == "Q-CSV")).one()
    assert quote.sent_at is not None

    _two_weeks_on(app, session, quote)


def test_turning_the_workflow_on_computes_its_never_computed_trigger_segment(session: Session) -> None:
    """Who qualifies at the activation is the baseline, not an entry; entries after it are recorded."""
    install_defaults(session=session)
    waiting = QuoteFactory(status="sent", sent_at=utcnow() - LATER)
    workflow = session.scalars(select(Workflow).where(Workflow.key == "quote_follow_up")).one()
    segment = session.get(Segment, workflow.trigger_segment_id)
    assert segment is not None and segment.version == 0

    set_status(session=session, workflow_id=workflow.id, status="active", now=utcnow())
    assert (segment.version, segment.member_count) == (1, 1)
    assert session.scalars(select(SegmentMember.profile_id)
                           .where(SegmentMember.segment_id == segment.id)).all() == [waiting.profile_id]
    assert session.scalars(select(SegmentEvent).where(SegmentEvent.segment_id == segment.id)).first() is None

"""Unconfirmed messages on the message log: everyone sees how many the filters select; admins send them
all again or close them all, within the filters, with CSRF; sales people cannot."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from crm_segments.models import Message
from tests.factories import ProfileFactory

from .conftest import csrf_token_from
from .message_data import message

pytestmark = pytest.mark.usefixtures("backend")


def _status(session: Session, row: Message) -> tuple[str, str | None]:
    session.expire_all()
    found = session.get(Message, row.id)
    assert found is not None
    return found.status, found.status_reason


def _unconfirmed(session: Session, **values: object) -> Message:
    return message(session, ProfileFactory(), status="unconfirmed", sent_at=None, claim_token="gone",
                   **values)


def test_admin_sends_again_the_unconfirmed_messages_the_filters_select(
        admin_client: FlaskClient, session: Session) -> None:
    emails = [_unconfirmed(session) for _ in range(2)]
    sms = _unconfirmed(session, channel="sms", to_address="+15551230000")
    sent = message(session, ProfileFactory())
    page = admin_client.get("/messages?channel=email")
    text = page.get_data(as_text=True)
    assert re.search(r"<strong>2 unconfirmed messages</strong>\s*among these", text)
    assert 'href="/messages?channel=email&amp;status=unconfirmed"' in text
    assert 'data-unconfirmed-action="requeue"' in text and 'data-unconfirmed-action="close"' in text

    assert admin_client.post("/messages/unconfirmed/requeue", data={"channel": "email"}).status_code == 400
    assert _status(session, emails[0])[0] == "unconfirmed"  # no CSRF token, nothing changed

    done = admin_client.post("/messages/unconfirmed/requeue",
                             data={"csrf_token": csrf_token_from(page), "channel": "email"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/messages?channel=email")
    for row in emails:
        status, reason = _status(session, row)
        assert status == "pending" and "sent again by ada.admin@example.com" in (reason or "")
    again = session.get(Message, emails[0].id)
    assert again is not None and (again.attempts, again.claim_token) == (0, None)
    assert _status(session, sms)[0] == "unconfirmed" and _status(session, sent)[0] == "sent"
    shown = admin_client.get("/messages?channel=email").get_data(as_text=True)
    assert "unconfirmed-messages" not in shown and "2 unconfirmed messages queued again" in shown


def test_admin_closes_them_and_a_settled_one_is_left_alone(admin_client: FlaskClient,
                                                         session: Session) -> None:
    rows = [_unconfirmed(session) for _ in range(3)]
    settled = message(session, ProfileFactory(), status="delivered")  # an event came in between
    page = admin_client.get("/messages?status=unconfirmed")
    assert "Show them" not in page.get_data(as_text=True)  # the list already shows only them
    done = admin_client.post("/messages/unconfirmed/close",
                             data={"csrf_token": csrf_token_from(page), "status": "unconfirmed"},
                             follow_redirects=True)
    assert "3 unconfirmed messages closed as failed" in done.get_data(as_text=True)
    for row in rows:
        status, reason = _status(session, row)
        assert status == "failed" and "closed by ada.admin@example.com" in (reason or "")
    assert _status(session, settled)[0] == "delivered"
    assert admin_client.post("/messages/unconfirmed/forget",
                             data={"csrf_token": csrf_token_from(page)}).status_code == 404


def test_sales_sees_the_count_but_cannot_decide(sales_client: FlaskClient, session: Session) -> None:
    row = _unconfirmed(session)
    page = sales_client.get("/messages")
    text = page.get_data(as_text=True)
    assert "<strong>1 unconfirmed message</strong>" in text and "Show it" in text
    assert "data-unconfirmed-action" not in text
    refused = sales_client.post("/messages/unconfirmed/requeue", data={"csrf_token": csrf_token_from(page)})
    assert refused.status_code == 403 and _status(session, row)[0] == "unconfirmed"
    detail = sales_client.get(f"/messages/{row.id}").get_data(as_text=True)
    assert "badge-unconfirmed" in detail

"""The message log: newest first, filters, keyset pages, one message with its timeline; roles and CSRF."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from crm_segments.models import Enrollment, Message
from tests.factories import ProfileFactory

from .conftest import csrf_token_from
from .message_data import T0, event, message, workflow

pytestmark = pytest.mark.usefixtures("backend")


def _ids(page: Any) -> list[int]:
    return [int(i) for i in re.findall(r'data-message-id="(\d+)"', page.get_data(as_text=True))]


def test_sales_sees_every_message_newest_first_with_links(sales_client: FlaskClient,
                                                          session: Session) -> None:
    ann = ProfileFactory(first_name="Ann", last_name="Lee", email="ann@example.com")
    old = message(session, ann, subject="Old news", at=T0 - dt.timedelta(days=2))
    new = message(session, ann, channel="sms", subject=None, text_body="Reminder text", status="delivered",
                  to_address="+15551230000")
    page = sales_client.get("/messages")
    assert page.status_code == 200
    assert _ids(page) == [new.id, old.id]
    text = page.get_data(as_text=True)
    assert f'href="/messages/{new.id}"' in text and f'href="/profiles/{ann.id}"' in text
    assert "Reminder text" in text and "Old news" in text and "badge-delivered" in text


def test_filters_each_narrow_the_log(sales_client: FlaskClient, session: Session) -> None:
    ann = ProfileFactory(first_name="Annabel", last_name="Quist", email="annabel@shop.example")
    bob = ProfileFactory(first_name="Bob", last_name="Marsh", email="bob@other.example")
    quoted = workflow(session, "Quote chase", segment_name="Quoted")
    welcome = workflow(session, "Welcome")
    email = message(session, ann, workflow_id=quoted.id, template_key="sales/quote_follow_up",
                    at=T0 - dt.timedelta(days=10))
    sms = message(session, bob, channel="sms", workflow_id=welcome.id, status="failed",
                  template_key="sales/quote_reminder", at=T0)
    test = message(session, bob, category="test", status="pending", at=T0 + dt.timedelta(days=1))
    cases: dict[str, list[int]] = {
        "channel=sms": [sms.id],
        "status=failed": [sms.id],
        "category=test": [test.id],
        f"workflow={welcome.id}": [sms.id],
        f"segment={quoted.trigger_segment_id}": [email.id],
        "q=annab": [email.id],
        "q=BOB@OTHER": [test.id, sms.id],
        "q=bob marsh": [test.id, sms.id],
        "template=sales/quote_follow_up": [email.id],
        "since=2030-06-01&until=2030-06-03": [sms.id],  # "until" takes in its whole day
        "since=2030-06-04": [test.id],
        f"profile={ann.id}": [email.id],
        "channel=email&status=sent": [email.id],
    }
    for query, expected in cases.items():
        page = sales_client.get(f"/messages?{query}")
        assert page.status_code == 200, query
        assert _ids(page) == expected, query
    # The form shows the filters in use, and keeps them.
    shown = sales_client.get(f"/messages?workflow={welcome.id}&segment={quoted.trigger_segment_id}&q=bob"
                             "&since=2030-06-01").get_data(as_text=True)
    assert f'<option value="{welcome.id}" selected>Welcome</option>' in shown
    assert f'<option value="{quoted.trigger_segment_id}" selected>Quoted</option>' in shown
    assert 'name="q" value="bob"' in shown and 'name="since" value="2030-06-01"' in shown


def test_bad_filters_are_refused_naming_the_field(sales_client: FlaskClient, session: Session) -> None:
    message(session, ProfileFactory())
    page = sales_client.get("/messages?status=lost&since=yesterday&workflow=abc")
    assert page.status_code == 400
    errors = page.get_data(as_text=True)
    assert "<strong>status</strong>" in errors and "<strong>since</strong>" in errors
    assert "<strong>workflow</strong>" in errors and "YYYY-MM-DD" in errors
    assert _ids(page) == []


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        seen.append((statement, parameters))

    sa_event.listen(engine, "before_cursor_execute", record)
    yield seen
    sa_event.remove(engine, "before_cursor_execute", record)


def test_pages_are_keyset_pages_without_offset(sales_client: FlaskClient, session: Session,
                                              statements: list[tuple[str, Any]]) -> None:
    profile = ProfileFactory()
    rows = [message(session, profile, at=T0 + dt.timedelta(minutes=i)) for i in range(112)]
    seen: list[int] = []
    url: str | None = "/messages?channel=email"
    while url:
        page = sales_client.get(url)
        assert page.status_code == 200
        seen += _ids(page)
        found = re.search(r'rel="next" href="([^"]+)"', page.get_data(as_text=True))
        url = html.unescape(found.group(1)) if found else None
        assert url is None or "channel=email" in url  # the filters stay on the next page
    assert seen == [r.id for r in reversed(rows)]
    selects = [(s, p) for s, p in statements
               if "FROM crm_messages" in s and "ORDER BY crm_messages.id DESC" in s]
    assert len(selects) == 3
    assert [("crm_messages.id <" in s) for s, _ in selects] == [False, True, True]  # the key, not a count
    # SQLite's dialect always writes "LIMIT ? OFFSET ?"; the offset must stay 0.
    assert all("OFFSET" not in s or p[-1] == 0 for s, p in selects)


def test_message_page_shows_content_timeline_provider_and_profile(sales_client: FlaskClient,
                                                                  session: Session) -> None:
    ann = ProfileFactory(first_name="Ann", email="ann@example.com")
    quoted = workflow(session, "Quote chase", segment_name="Quoted")
    enrollment = Enrollment(workflow_id=quoted.id, profile_id=ann.id, trigger_key="t1", status="completed")
    session.add(enrollment)
    session.flush()
    row = message(session, ann, workflow_id=quoted.id, enrollment_id=enrollment.id, step_key="first_email",
                  status="bounced", provider="sendgrid", provider_message_id="sg-abc-123", attempts=2,
                  html_body='<p>Hi <b>Ann</b> "quoted"</p>', text_body="Hi Ann (text)",
                  last_error="550 mailbox unavailable", failed_at=T0 + dt.timedelta(minutes=5),
                  status_reason="bounced: mailbox unavailable")
    event(session, row, "bounce", T0 + dt.timedelta(minutes=5), detail="550 mailbox unavailable")
    event(session, row, "processed", T0 + dt.timedelta(minutes=1))
    page = sales_client.get(f"/messages/{row.id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    # The HTML part is shown in a sandboxed frame, escaped into its srcdoc attribute.
    assert 'sandbox srcdoc="&lt;p&gt;Hi &lt;b&gt;Ann&lt;/b&gt; &#34;quoted&#34;&lt;/p&gt;"' in text
    assert "Hi Ann (text)" in text and "sg-abc-123" in text and "550 mailbox unavailable" in text
    assert f'href="/profiles/{ann.id}"' in text and f'href="/workflows/{quoted.id}"' in text
    assert f'href="/workflows/enrollments/{enrollment.id}"' in text and "Quoted" in text
    timeline = text.split('id="message-timeline"')[1].split("</section>")[0]
    labels = re.findall(r'class="badge badge-(\w+)"', timeline)
    assert labels == ["queued", "rendered", "handed_over", "sent", "processed", "bounced", "bounce"]
    assert "Send again" not in text  # sales people look; admins re-queue


def test_a_pending_message_says_where_its_content_comes_from(sales_client: FlaskClient,
                                                             session: Session) -> None:
    row = message(session, ProfileFactory(), status="pending", rendered_at=None, sent_at=None,
                  attempted_at=None, subject=None, text_body="", to_address=None,
                  template_key="sales/quote_follow_up")
    text = sales_client.get(f"/messages/{row.id}").get_data(as_text=True)
    assert "Not rendered yet" in text and "sales/quote_follow_up" in text
    assert sales_client.get("/messages/999999").status_code == 404


def test_admin_requeues_a_failed_message_with_csrf(admin_client: FlaskClient, session: Session) -> None:
    failed = message(session, ProfileFactory(), status="failed", last_error="timeout")
    page = admin_client.get(f"/messages/{failed.id}")
    assert "Send again" in page.get_data(as_text=True)
    assert admin_client.post(f"/messages/{failed.id}/requeue").status_code == 400  # no CSRF token
    session.expire_all()
    assert session.get(Message, failed.id).status == "failed"  # type: ignore[union-attr]

    done = admin_client.post(f"/messages/{failed.id}/requeue", data={"csrf_token": csrf_token_from(page)})
    assert done.status_code == 302
    session.expire_all()
    assert session.get(Message, failed.id).status == "pending"  # type: ignore[union-attr]

    sent = message(session, ProfileFactory())
    refused = admin_client.post(f"/messages/{sent.id}/requeue", data={"csrf_token": csrf_token_from(page)},
                                follow_redirects=True)
    assert "only failed, unknown or unconfirmed messages" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(Message, sent.id).status == "sent"  # type: ignore[union-attr]


def test_roles_and_navigation(client: FlaskClient, sales_client: FlaskClient, session: Session) -> None:
    failed = message(session, ProfileFactory(), status="failed")
    page = sales_client.get("/messages")
    text = page.get_data(as_text=True)
    assert re.search(r'<a href="/messages"[^>]*class="active"', text)
    assert 'href="/templates"' in text  # sales see the templates; changing them is for admins
    assert 'href="/outbox"' in text  # no provider keys: the local outbox is in use
    token = csrf_token_from(page)
    assert sales_client.post(f"/messages/{failed.id}/requeue", data={"csrf_token": token}).status_code == 403
    sales_client.post("/logout", data={"csrf_token": token})
    anonymous = client.get("/messages")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_filtering_on_a_segment_or_workflow_shows_its_results(sales_client: FlaskClient,
                                                              session: Session) -> None:
    quoted = workflow(session, "Quote chase", segment_name="Quoted")
    ann, bob = ProfileFactory(), ProfileFactory()
    for profile in (ann, bob):
        session.add(Enrollment(workflow_id=quoted.id, profile_id=profile.id, trigger_key=f"k{profile.id}"))
    session.flush()
    message(session, ann, workflow_id=quoted.id, status="opened", delivered_at=T0, opened_at=T0)
    message(session, bob, workflow_id=quoted.id, status="bounced", failed_at=T0)
    for query in (f"segment={quoted.trigger_segment_id}", f"workflow={quoted.id}"):
        text = sales_client.get(f"/messages?{query}").get_data(as_text=True)
        results = text.split('id="selected-results"')[1].split("</section>")[0]
        counts = dict(re.findall(r'data-metric="(\w+)">(\d+)', results))
        assert counts == {"enrolled": "2", "sent": "2", "delivered": "1", "opened": "1", "clicked": "0",
                          "bounced": "1", "unsubscribed": "0", "converted": "0"}, query
    assert 'id="selected-results"' not in sales_client.get("/messages").get_data(as_text=True)


def test_the_profile_page_lists_its_latest_messages(sales_client: FlaskClient, session: Session) -> None:
    ann = ProfileFactory(first_name="Ann", last_name="Lee")
    rows = [message(session, ann, subject=f"Note {i}", at=T0 + dt.timedelta(minutes=i)) for i in range(12)]
    message(session, ProfileFactory(), subject="Someone else's")
    page = sales_client.get(f"/profiles/{ann.id}").get_data(as_text=True)
    section = page.split('id="messages"')[1].split("</section>")[0]
    assert _ids_in(section) == [r.id for r in reversed(rows)][:10]
    assert f'href="/messages?profile={ann.id}"' in section and "All messages" in section
    log = sales_client.get(f"/messages?profile={ann.id}").get_data(as_text=True)
    assert "<h1>Messages to Ann Lee</h1>" in log and "Someone else" not in log


def _ids_in(text: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-message-id="(\d+)"', text)]


def test_a_profile_search_finds_the_same_messages_however_many_profiles_match(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    from crm_segments.messages import message_log

    smiths = [ProfileFactory(last_name="Smith"), ProfileFactory(last_name="Smithers")]
    rows = [message(session, p, at=T0 + dt.timedelta(minutes=i)) for i, p in enumerate(smiths * 2)]
    message(session, ProfileFactory(last_name="Jones"))
    filters = message_log.as_filter({"q": "smith"})
    expected = [r.id for r in reversed(rows)]
    looked_up = message_log.list_messages(session=session, filters=filters)
    assert [m.id for m in looked_up.items] == expected
    monkeypatch.setattr(message_log, "SEARCHED_PROFILES_LOOKED_UP", 1)  # too many: a subquery instead
    assert [m.id for m in message_log.list_messages(session=session, filters=filters).items] == expected
    nobody = message_log.as_filter({"q": "zzz"})
    assert message_log.list_messages(session=session, filters=nobody).items == []

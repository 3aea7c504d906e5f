"""The home page per role: quotes awaiting an answer with their follow-up state (a sales person's own
customers first), today's segment entries, messages per day, segment trends, channel health."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from crm_segments.db import utcnow
from crm_segments.models import ChannelPause, Enrollment, SegmentSizePoint, User, Workflow
from tests.factories import ProfileFactory, QuoteFactory
from tests.web.message_data import message
from tests.workflows.helpers import enter, make_segment


def _workflow(session: Session) -> Workflow:
    workflow = Workflow(name="Quote follow-up", trigger_type="segment_entered", status="active", steps=[
        {"key": "quote_email", "type": "send_email", "label": "The quote's details"},
        {"key": "wait_reminder", "type": "wait"},
        {"key": "reminder_sms", "type": "send_sms", "label": "Reminder text"},
    ])
    session.add(workflow)
    session.flush()
    return workflow


def _table_rows(page: str, table_id: str) -> list[str]:
    found = re.search(rf'id="{table_id}".*?</svg>.*?<tbody>(.*?)</tbody>', page, re.S)
    assert found, f"no table for {table_id}"
    return re.findall(r"<tr>(.*?)</tr>", found.group(1), re.S)


def test_sales_sees_their_customers_quotes_first_with_follow_up_state(
        sales_client: FlaskClient, sales_user: User, session: Session) -> None:
    now = utcnow()
    theirs = ProfileFactory(first_name="Other", last_name="Customer", owner_id=None)
    mine = ProfileFactory(first_name="Own", last_name="Customer", owner_id=sales_user.id)
    QuoteFactory(profile=theirs, number="Q-OLDEST", status="sent", sent_at=now - dt.timedelta(days=30),
                 total=Decimal("10"))
    own_quote = QuoteFactory(profile=mine, number="Q-MINE", status="sent", sent_at=now - dt.timedelta(days=2),
                             total=Decimal("250.50"))
    QuoteFactory(profile=mine, number="Q-ACCEPTED", status="accepted", sent_at=now - dt.timedelta(days=3))
    workflow = _workflow(session)
    session.add(Enrollment(workflow_id=workflow.id, profile_id=mine.id, trigger_key=f"quote:{own_quote.id}",
                           trigger_record_type="quote", trigger_record_id=own_quote.id, status="active",
                           current_step_key="reminder_sms", next_run_at=now + dt.timedelta(days=1)))
    session.flush()

    response = sales_client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    panel = page[page.index('id="quotes-awaiting"'):page.index('id="entered-today"')]
    assert panel.index("Q-MINE") < panel.index("Q-OLDEST")  # own customers first, though newer
    assert "Q-ACCEPTED" not in panel
    assert re.search(r"Quote follow-up</a>\s*<span class=\"nowrap\">step 3 of 3</span>: Reminder text", panel)
    assert "not enrolled" in panel  # the other customer's quote has no follow-up
    assert re.search(r'stat-value">2<.*?sent, no answer yet', panel, re.S)
    assert re.search(r'stat-value">1<.*?of your customers', panel, re.S)
    assert "1 profile you own" in page


def test_admin_sees_oldest_quotes_first_and_no_own_counts(admin_client: FlaskClient,
                                                          session: Session) -> None:
    now = utcnow()
    QuoteFactory(number="Q-NEW", status="sent", sent_at=now - dt.timedelta(days=1))
    QuoteFactory(number="Q-OLD", status="sent", sent_at=now - dt.timedelta(days=9))
    page = admin_client.get("/").get_data(as_text=True)
    assert page.index("Q-OLD") < page.index("Q-NEW")
    assert "of your customers" not in page and "you own" not in page


def test_messages_per_day_counts_each_stage_by_sending_day(admin_client: FlaskClient,
                                                           session: Session) -> None:
    today = utcnow().replace(hour=0, minute=30, second=0, microsecond=0)
    yesterday = today - dt.timedelta(days=1)
    profile = ProfileFactory()
    message(session, profile, at=yesterday, delivered_at=yesterday, opened_at=today, clicked_at=today)
    message(session, profile, at=yesterday, delivered_at=yesterday)
    message(session, profile, at=today)
    message(session, profile, at=today - dt.timedelta(days=40))  # outside 30 days, inside 90
    message(session, profile, at=today, recipient_user_id=None, status="pending", sent_at=None)  # not sent

    rows = _table_rows(admin_client.get("/").get_data(as_text=True), "messages-chart")
    assert len(rows) == 30
    cells = [re.findall(r'<td class="num">([\d,]+)</td>', row) for row in rows]
    assert cells[0] == ["1", "0", "0", "0", "0"]  # today (newest first): sent
    assert cells[1] == ["2", "2", "1", "1", "0"]  # yesterday: sent, delivered, opened, clicked, converted
    assert all(c == ["0"] * 5 for c in cells[2:])

    wide = admin_client.get("/?days=90").get_data(as_text=True)
    assert len(_table_rows(wide, "messages-chart")) == 90
    assert "last 90 days" in wide


def test_an_unknown_period_is_refused(admin_client: FlaskClient) -> None:
    response = admin_client.get("/?days=7")
    assert response.status_code == 400
    assert "days: must be one of 30, 90" in response.get_data(as_text=True)


def test_todays_segment_entries_and_segment_trends(sales_client: FlaskClient, sales_user: User,
                                                   session: Session) -> None:
    now = utcnow()
    segment = make_segment(session, name="Hot leads")
    stranger = ProfileFactory(first_name="Stranger", last_name="Danger")
    own = ProfileFactory(first_name="Owned", last_name="Lead", owner_id=sales_user.id)
    enter(session, segment, stranger, at=now)
    enter(session, segment, own, at=now - dt.timedelta(seconds=5))
    enter(session, segment, ProfileFactory(), at=now - dt.timedelta(days=2))  # not today
    segment.member_count = 3
    for days_ago, size in ((3, 1), (2, 2), (0, 3)):
        session.add(SegmentSizePoint(segment_id=segment.id, measured_at=now - dt.timedelta(days=days_ago),
                                     size=size))
    session.flush()

    page = sales_client.get("/").get_data(as_text=True)
    panel = page[page.index('id="entered-today"'):page.index('id="messages-per-day"')]
    assert "Hot leads</a>: 2 entries" in panel
    assert panel.index("Owned Lead") < panel.index("Stranger Danger")  # own customers first
    trends = page[page.index('id="segment-trends"'):page.index('id="channels"')]
    assert 'role="img" aria-label="Hot leads: 1 to 3 members over 4 days"' in trends
    assert "+2" in trends


def test_channels_show_pauses_failures_and_unconfirmed(admin_client: FlaskClient, session: Session) -> None:
    now = utcnow()
    session.add(ChannelPause(channel="sms", provider="twilio", error="Authenticate", paused_at=now))
    profile = ProfileFactory()
    message(session, profile, at=now - dt.timedelta(days=1), status="bounced")
    message(session, profile, at=now - dt.timedelta(days=10), status="bounced")  # older than 7 days
    message(session, profile, at=now, status="unconfirmed", sent_at=None)
    page = admin_client.get("/").get_data(as_text=True)
    panel = page[page.index('id="channels"'):]
    email = re.search(r"<th scope=\"row\">Email</th>(.*?)</tr>", panel, re.S)
    sms = re.search(r"<th scope=\"row\">SMS</th>(.*?)</tr>", panel, re.S)
    assert email and sms
    assert "needs attention" in email.group(1)
    assert re.findall(r'<td class="num">(?:<a [^>]*>)?([\d,]+)', email.group(1)) == ["0", "1", "1"]
    assert "paused" in sms.group(1)


def test_profiles_list_keeps_its_own_address_and_nav_entry(sales_client: FlaskClient) -> None:
    ProfileFactory(first_name="Listed")
    listing = sales_client.get("/profiles").get_data(as_text=True)
    assert "Listed" in listing
    assert 'href="/rfm">RFM grid<' in sales_client.get("/").get_data(as_text=True)
    nav = re.search(r'<nav class="mainnav".*?</nav>', sales_client.get("/").get_data(as_text=True), re.S)
    assert nav
    assert re.search(r'href="/"[^>]*aria-current="page">Home<', nav.group(0))
    assert 'href="/profiles">Profiles<' in nav.group(0)

"""The profile's activity timeline: every source, newest first, in keyset pages that neither skip nor
repeat an entry (also for entries at the same instant), one bounded query per source."""

from __future__ import annotations

import datetime as dt

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import (
    ConsentChange,
    Enrollment,
    EnrollmentStep,
    Message,
    MessageEvent,
    Profile,
    SegmentEvent,
    TagEvent,
)
from crm_segments.profiles import timeline
from tests.factories import JobFactory, ProfileFactory, QuoteFactory, SupportTicketFactory, TagFactory
from tests.workflows.helpers import active_workflow, definition, make_segment

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def _history(session: Session) -> Profile:
    """A profile with one entry of every kind, a minute apart (the message's delivery last), and two
    tag changes at the same instant as the quote."""
    profile = ProfileFactory()
    other = ProfileFactory()  # whose activity must not show
    QuoteFactory(profile=profile, number="Q-77", created_at=_at(1))
    QuoteFactory(profile=other, number="Q-OTHER", created_at=_at(1))
    JobFactory(profile=profile, title="Install", created_at=_at(2))
    SupportTicketFactory(profile=profile, subject="Broken gear", created_at=_at(3))
    tag = TagFactory(name="VIP")
    for action in ("added", "removed"):
        session.add(TagEvent(entity_type="profile", entity_id=profile.id, profile_id=profile.id,
                             tag_id=tag.id,
                             tag_name="VIP", action=action, source="manual", occurred_at=_at(1)))
    segment = make_segment(session, name="Quoted")
    session.add(SegmentEvent(segment_id=segment.id, profile_id=profile.id, kind="entered", occurred_at=_at(4),
                             source="refresh"))
    workflow = active_workflow(session, definition(segment))
    enrollment = Enrollment(workflow_id=workflow.id, profile_id=profile.id, trigger_key="t", status="active",
                            enrolled_at=_at(5))
    session.add(enrollment)
    session.flush()
    session.add(EnrollmentStep(enrollment_id=enrollment.id, step_key="tag_one", step_type="add_tag",
                               outcome="tag_added", ran_at=_at(5)))
    message = Message(dedupe_key="m-1", profile_id=profile.id, channel="email", category="marketing",
                      template_key="sales/quote_follow_up", subject="Your quote Q-77", status="sent",
                      created_at=_at(6))
    session.add(message)
    session.flush()
    session.add(MessageEvent(provider="sendgrid", provider_event_id="ev-1", message_id=message.id,
                             profile_id=profile.id, event="delivered", occurred_at=_at(8)))
    session.add(ConsentChange(profile_id=profile.id, channel="email", old_value=False, new_value=True,
                              source="ui", actor="ada@example.com", changed_at=_at(7)))
    session.flush()
    return profile


EXPECTED = [  # newest first
    ("delivery", "Message delivered"), ("consent", "Email consent given"),
    ("message", "Email Your quote Q-77"), ("workflow", "Workflow Follow-up: step tag_one"),
    ("segment", "Entered segment Quoted"), ("ticket", "Ticket Broken gear created"),
    ("job", "Job Install created"), ("tag", "Tag 'VIP' removed"), ("tag", "Tag 'VIP' added"),
    ("quote", "Quote Q-77 created"),
]


def test_every_source_newest_first(session: Session) -> None:
    profile = _history(session)
    page = timeline.profile_timeline(session, profile_id=profile.id)
    assert [(e.source, e.title) for e in page.entries] == EXPECTED
    assert page.older is None


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_pages_neither_skip_nor_repeat(session: Session, size: int) -> None:
    profile = _history(session)
    seen, before = [], None
    while True:
        page = timeline.profile_timeline(session, profile_id=profile.id, before=before, limit=size)
        assert len(page.entries) <= size
        seen += [(e.source, e.title) for e in page.entries]
        if page.older is None:
            break
        before = page.older
    assert seen == EXPECTED


def test_one_bounded_query_per_source(session: Session) -> None:
    profile = _history(session)
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    engine = session.get_bind().engine  # type: ignore[union-attr]
    event.listen(engine, "before_cursor_execute", record)
    try:
        timeline.profile_timeline(session, profile_id=profile.id, limit=3)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == len(timeline.sources())
    assert all("LIMIT" in s.upper() for s in selects)


def test_a_bad_cursor_is_refused(session: Session, sales_client: FlaskClient) -> None:
    profile = ProfileFactory()
    with pytest.raises(ValidationFailed):
        timeline.profile_timeline(session, profile_id=profile.id, before="yesterday")
    page = sales_client.get(f"/profiles/{profile.id}/activity?before=yesterday")
    assert page.status_code == 400 and "activity_before" in page.get_data(as_text=True)


def test_the_profile_page_shows_the_latest_and_the_activity_page_pages(session: Session,
                                                                      sales_client: FlaskClient) -> None:
    profile = _history(session)
    html = sales_client.get(f"/profiles/{profile.id}").get_data(as_text=True)
    assert '<section class="section" id="activity">' in html
    assert html.index("Message delivered") < html.index("Quote Q-77 created")
    assert f'href="/profiles/{profile.id}/activity">All activity' in html
    assert "Q-OTHER" not in html
    activity = sales_client.get(f"/profiles/{profile.id}/activity").get_data(as_text=True)
    assert "Entered segment Quoted" in activity and 'data-source="delivery"' in activity
    assert sales_client.get("/profiles/999999/activity").status_code == 404

"""In Chromium: an admin builds "a quote sent more than 7 days ago with no job created after *this*
quote" in the visual builder alone (the JSON box stays closed), and its members are the shipped
"Quoted, not converted" segment's with days = 7; opening and saving the shipped rule changes nothing;
each condition, a related-records one with its time window too, is one line, wrapping only on a phone."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from crm_segments import create_app, migrate
from crm_segments.models import Job, Profile, Quote, Segment, SegmentMember
from crm_segments.segments.prebuilt import BY_KEY, install_builtin_segments
from crm_segments.segments.refresh import refresh_segment
from crm_segments.state import get_state
from tests.browser.conftest import ADMIN, NARROW, add_accounts
from tests.browser.test_accessibility_browser import AXE_RUN, NEXT_FRAME, SIDEWAYS

pytestmark = [pytest.mark.browser]

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Site:
    url: str
    sessions: sessionmaker[Session]
    expected: frozenset[int]  # the profiles the rule must match with days = 7


def _days_ago(days: int) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def _seed(session: Session) -> frozenset[int]:
    add_accounts(session, ADMIN)
    install_builtin_segments(session)
    # (quote status, sent days ago, a job created days ago or None, matches with days = 7)
    cases = [("sent", 10, None, True), ("sent", 10, 5, False), ("sent", 10, 20, True),
             ("sent", 3, None, False), ("accepted", 10, None, False)]
    expected = set()
    for n, (status, sent, job, matches) in enumerate(cases):
        profile = Profile(external_id=f"R-{n}", first_name=f"P{n}")
        session.add(profile)
        session.flush()
        session.add(Quote(external_id=f"Q-{n}", profile_id=profile.id, number=f"Q-{n}", status=status,
                          total=Decimal("100"), sent_at=_days_ago(sent), created_at=_days_ago(sent + 1)))
        if job is not None:
            session.add(Job(external_id=f"J-{n}", profile_id=profile.id, created_at=_days_ago(job)))
        if matches:
            expected.add(profile.id)
    # Only a window counted from the sent date tells these apart from "created in the last 7 days".
    for n, (created, sent) in enumerate([(30, 2), (2, None)]):
        late = Profile(external_id=f"W-{n}", first_name=f"W{n}")
        session.add(late)
        session.flush()
        session.add(Quote(external_id=f"QW-{n}", profile_id=late.id, number=f"QW-{n}",
                          status="draft" if sent is None else "sent", total=Decimal("100"),
                          sent_at=None if sent is None else _days_ago(sent), created_at=_days_ago(created)))
    return frozenset(expected)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chromium_path: str) -> Iterator[Site]:
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    database_url = f"sqlite:///{tmp_path / 'crm.db'}"
    migrate.upgrade(database_url)
    app = create_app({"CRM_SEGMENTS_DATABASE_URL": database_url,
                      "SECRET_KEY": "browser-test-secret-key-0123456789"})
    sessions = get_state(app).session_factory
    with sessions() as session, session.begin():
        expected = _seed(session)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_port}", sessions, expected)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        get_state(app).engine.dispose()


@pytest.fixture
def site_url(site: Site) -> str:
    return site.url


def _members(session: Session, segment: Segment) -> frozenset[int]:
    refresh_segment(session, segment, now=NOW)
    return frozenset(session.scalars(select(SegmentMember.profile_id)
                                     .where(SegmentMember.segment_id == segment.id)))


def test_admin_builds_the_quote_follow_up_rule_in_the_builder(site: Site, admin_page: Any) -> None:
    from playwright.sync_api import expect

    page = admin_page
    page.goto(f"{site.url}/segments/new")
    page.get_by_label("Name").fill("Quotes waiting a week")
    root = page.locator("#rule-builder > .rb-group")
    root.locator(":scope > .rb-adds").get_by_role("button", name="+ related records").click()
    root.locator(":scope > .rb-children > .rb-row").first.locator(":scope > .rb-remove").click()

    quotes = page.locator(".rb-records").first
    quotes.get_by_role("button", name="+ where").click()
    where = quotes.locator(".rb-group").first
    status = page.locator(".rb-condition").nth(0)
    status.get_by_label("Field").select_option("status")
    status.get_by_label("Operator").select_option("eq")
    status.get_by_label("Value").select_option("sent")

    where.locator(":scope > .rb-adds").get_by_role("button", name="+ condition").click()
    sent = page.locator(".rb-condition").nth(1)
    sent.get_by_label("Field").select_option("sent_at")
    sent.get_by_label("Operator").select_option("more_than_ago")
    sent.get_by_label("How many").fill("7")

    where.locator(":scope > .rb-adds").get_by_role("button", name="+ related records").click()
    jobs = page.locator(".rb-records").nth(1)
    jobs.get_by_label("Exists").select_option("false")
    jobs.get_by_label("Record type").select_option("jobs")
    jobs.get_by_role("button", name="+ where").click()
    created = page.locator(".rb-condition").nth(2)
    created.get_by_label("Field").select_option("created_at")
    created.get_by_label("Operator").select_option("after")
    # The value is the enclosing quote's own date, picked from its date fields.
    created.get_by_label("Compare with").select_option("sent_at")
    expect(created.get_by_label("Value")).to_have_count(0)

    expect(page.locator("#preview-count")).to_have_text(str(len(site.expected)))
    expect(page.locator("details.rule-json")).not_to_have_attribute("open", "")
    page.get_by_role("button", name="Save and refresh").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"Refreshed Quotes waiting a week: {len(site.expected)} members")
    page.context.close()

    with site.sessions() as session, session.begin():
        built = session.scalars(select(Segment).where(Segment.name == "Quotes waiting a week")).one()
        shipped = session.scalars(select(Segment).where(Segment.key == "quoted_not_converted")).one()
        shipped.rule = BY_KEY["quoted_not_converted"].build({"days": 7})
        shipped.parameters = {"days": 7}
        assert _members(session, built) == _members(session, shipped) == site.expected


def test_opening_and_saving_the_shipped_rule_changes_nothing(site: Site, admin_page: Any) -> None:
    from playwright.sync_api import expect

    with site.sessions() as session:
        shipped = session.scalars(select(Segment).where(Segment.key == "quoted_not_converted")).one()
        before, segment_id = shipped.rule, shipped.id
    assert before["where"]["all"][2]["where"]["ref"] == "parent.sent_at"

    page = admin_page
    page.goto(f"{site.url}/segments/{segment_id}/edit")
    created = page.locator(".rb-records").nth(1).locator(".rb-condition")
    expect(created.get_by_label("Compare with")).to_have_value("sent_at")
    expect(created.get_by_label("Value")).to_have_count(0)
    page.get_by_role("button", name="Save and refresh").click()
    expect(page.get_by_role("status")).to_contain_text("Refreshed Quoted, not converted")
    page.context.close()

    with site.sessions() as session:
        assert session.get(Segment, segment_id).rule == before  # type: ignore[union-attr]


def test_the_preview_counts_with_a_typed_parameter_and_saving_agrees(site: Site, admin_page: Any) -> None:
    from playwright.sync_api import expect

    with site.sessions() as session:
        segment_id = session.scalars(select(Segment.id).where(Segment.key == "quoted_not_converted")).one()

    page = admin_page
    page.goto(f"{site.url}/segments/{segment_id}/edit")
    expect(page.locator("#preview-count")).to_have_text("0")  # shipped: sent more than 14 days ago
    page.get_by_label("Days").fill("7")
    expect(page.locator("#preview-count")).to_have_text(str(len(site.expected)))
    page.get_by_role("button", name="Save and refresh").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"Refreshed Quoted, not converted: {len(site.expected)} members")
    page.context.close()


# The rows of controls that stack over more than one line (their controls' tops differ).
STACKED = """() => [...document.querySelectorAll("#rule-builder .rb-line")].filter((line) => {
  const tops = [...line.children].filter((c) => c.getClientRects().length)
    .map((c) => c.getBoundingClientRect()).map((r) => r.top + r.height / 2);
  return Math.max(...tops) - Math.min(...tops) > 4;
}).map((line) => line.className + ": " + line.textContent.replace(/\\s+/g, " ").slice(0, 60))"""


def test_each_condition_is_one_line_that_wraps_only_on_a_phone(site: Site, admin_page: Any) -> None:
    from playwright.sync_api import expect

    with site.sessions() as session:
        segment_id = session.scalars(select(Segment.id).where(Segment.key == "quoted_not_converted")).one()
    page = admin_page
    page.goto(f"{site.url}/segments/{segment_id}/edit")
    jobs = page.locator(".rb-records").nth(1)
    expect(jobs.get_by_label("Record type")).to_have_value("jobs")
    # By keyboard: "+ time window" opens the window on the same line, focus on the date it counts
    # from (jobs have several), then its number.
    jobs.get_by_role("button", name="+ time window").focus()
    page.keyboard.press("Enter")
    expect(page.locator(":focus")).to_have_attribute("aria-label", "Window date")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_attribute("aria-label", "Window")
    page.keyboard.press("Control+a")
    page.keyboard.type("30")
    head = page.locator(".rb-records").nth(1).locator(":scope > .rb-head")
    expect(head.get_by_label("Window date")).to_have_value("created_at")
    expect(head.locator(".rb-word")).to_have_text("in the last")
    expect(head.get_by_label("Window unit")).to_have_value("days")
    assert '"within": {\n' in page.locator("#rule").input_value()
    assert page.locator(".rb-line").count() >= 5  # the quotes, the group, two fields, the jobs, its field
    assert page.evaluate(STACKED) == []

    page.set_viewport_size(NARROW)
    page.evaluate(NEXT_FRAME)
    assert page.evaluate(SIDEWAYS) is None
    assert page.evaluate(AXE_RUN) == []


SENT_LATELY = {"records": "quotes", "within": {"value": 7, "unit": "days", "date": "sent_at"}, "exists": True}


def test_a_time_window_counts_from_the_date_picked_on_its_line(site: Site, admin_page: Any) -> None:
    from playwright.sync_api import expect

    page = admin_page
    page.goto(f"{site.url}/segments/new")
    page.get_by_label("Name").fill("Quotes sent this week")
    root = page.locator("#rule-builder > .rb-group")
    root.locator(":scope > .rb-adds").get_by_role("button", name="+ related records").click()
    root.locator(":scope > .rb-children > .rb-row").first.locator(":scope > .rb-remove").click()
    quotes = page.locator(".rb-records").first
    quotes.get_by_role("button", name="+ time window").click()
    head = quotes.locator(":scope > .rb-head")
    expect(head.get_by_label("Window date")).to_have_value("created_at")
    head.get_by_label("Window date").select_option("sent_at")
    head.get_by_label("Window", exact=True).fill("7")
    assert '"date": "sent_at"' in page.locator("#rule").input_value()
    page.get_by_role("button", name="Save and refresh").click()
    expect(page.get_by_role("status")).to_contain_text("Refreshed Quotes sent this week")
    page.context.close()

    with site.sessions() as session, session.begin():
        built = session.scalars(select(Segment).where(Segment.name == "Quotes sent this week")).one()
        assert built.rule == {"all": [SENT_LATELY]}
        written = Segment(name="Sent lately, in JSON", kind="live", rule=SENT_LATELY)
        created_lately = Segment(name="Created lately", kind="live",
                                rule={**SENT_LATELY, "within": {"value": 7, "unit": "days"}})
        session.add_all([written, created_lately])
        session.flush()
        members = _members(session, built)
        assert members == _members(session, written)
        assert len(members) == 2 and members != _members(session, created_lately)

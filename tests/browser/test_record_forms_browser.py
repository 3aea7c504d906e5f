"""The flagship journey in the browser, with no API call: a sales person creates a profile and a quote
and marks the quote sent; once the quote has waited unanswered, the scheduler's own jobs send the quote
follow-up email and it is in the outbox."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from crm_segments import create_app
from crm_segments.cli.admin import init_database
from crm_segments.cli.context import unit_of_work
from crm_segments.db import utcnow
from crm_segments.models import Message, Workflow
from crm_segments.scheduler.jobs import run_job
from crm_segments.state import get_state
from crm_segments.workflows.lifecycle import set_status
from tests.browser.conftest import SALES, add_accounts

pytestmark = [pytest.mark.browser]

# The shipped segment counts a quote as unanswered 14 days after it was sent.
LATER = dt.timedelta(days=15)
# What the scheduler runs, in the order a change travels: segments, enrollment, steps, sending.
JOBS = ("segments.refresh_due", "workflows.enroll", "workflows.advance", "messages.dispatch_due")


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chromium_path: str) -> Iterator[tuple[str, Any]]:
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    app = create_app({"CRM_SEGMENTS_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}",
                      "SECRET_KEY": "browser-test-secret-key-0123456789",
                      "CRM_SEGMENTS_OUTBOX_DIR": str(tmp_path / "outbox")})
    init_database(app)  # the shipped segments and workflows, as `run` makes them
    with unit_of_work(app) as session:
        add_accounts(session)
        follow_up = session.scalars(select(Workflow).where(Workflow.key == "quote_follow_up")).one()
        set_status(session=session, workflow_id=follow_up.id, status="active", now=utcnow())
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        get_state(app).engine.dispose()


@pytest.fixture
def site_url(served: tuple[str, Any]) -> str:
    return served[0]


def test_a_quote_marked_sent_in_the_ui_gets_its_follow_up_email(served: tuple[str, Any], sales_page: Any,
                                                                  admin_page: Any) -> None:
    from playwright.sync_api import expect

    (url, app), sales, admin = served, sales_page, admin_page
    sales.goto(f"{url}/profiles")
    sales.get_by_role("link", name="New profile").click()
    sales.get_by_label("First name").fill("Grace")
    sales.get_by_label("Last name").fill("Hopper")
    sales.get_by_label("Email", exact=True).fill("grace@navy.example")
    sales.get_by_role("button", name="Create profile").click()
    expect(sales.get_by_role("heading", name="Grace Hopper")).to_be_visible()
    expect(sales.get_by_text(f"Owner: {SALES.name}")).to_be_visible()
    profile_url = sales.url

    # Marketing email needs consent, which an admin records with how it was given.
    admin.goto(profile_url)
    admin.get_by_text("Record consent").first.click()
    admin.get_by_label("Note").first.fill("Signed form at the fair")
    admin.get_by_role("button", name="Record Email consent").click()
    expect(admin.get_by_text("Email consent recorded.")).to_be_visible()

    sales.goto(profile_url)
    sales.get_by_role("link", name="New quote").click()
    sales.get_by_label("Number").fill("Q-2026-7")
    sales.get_by_label("Line 1 description").fill("Compiler consulting")
    sales.get_by_label("Line 1 quantity").fill("2")
    sales.get_by_label("Line 1 unit price").fill("450")
    sales.get_by_role("button", name="Create quote").click()
    expect(sales.get_by_text("900.00 USD").first).to_be_visible()
    sales.get_by_role("button", name="Mark sent").click()
    expect(sales.get_by_text("Quote marked sent.")).to_be_visible()

    # Two weeks on without an answer: the scheduler's jobs, run at that time.
    later = utcnow() + LATER
    for job in JOBS:
        run_job(job, later, state=get_state(app))
    with unit_of_work(app) as session:
        sent = session.scalars(select(Message).where(
            Message.template_key == "sales/quote_follow_up")).one()
        assert (sent.record_type, sent.status) == ("quote", "sent")

    sales.goto(f"{url}/outbox")
    expect(sales.get_by_text("Your quote Q-2026-7").first).to_be_visible()

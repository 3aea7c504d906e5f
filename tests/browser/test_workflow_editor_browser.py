"""In Chromium: an admin opens the shipped quote follow-up in the visual workflow editor, changes its
first wait from 3 to 5 days in the wait step's card, saves, and the YAML export says 5 days; the
editor passes axe-core and fits at 1,280 px and 390 px. A branch step's condition is built with the
rule builder (its JSON box stays closed) and the YAML export has the rule."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from werkzeug.serving import make_server

from crm_segments import create_app
from crm_segments.cli.admin import init_database
from crm_segments.models import Workflow
from crm_segments.state import get_state
from tests.browser.conftest import ADMIN, add_accounts
from tests.browser.test_owners_browser import _fits_and_passes_axe

pytestmark = [pytest.mark.browser]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chromium_path: str) -> Iterator[tuple[str, int]]:
    """The server's address and the shipped quote follow-up's id."""
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    app = create_app({"CRM_SEGMENTS_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}",
                      "SECRET_KEY": "browser-test-secret-key-0123456789"})
    init_database(app)  # the shipped segments, templates and workflows
    with get_state(app).session_factory() as session, session.begin():
        add_accounts(session, ADMIN)
        workflow_id = session.scalars(select(Workflow.id).where(Workflow.key == "quote_follow_up")).one()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", workflow_id
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        get_state(app).engine.dispose()


@pytest.fixture
def site_url(site: tuple[str, int]) -> str:
    return site[0]


def test_an_admin_changes_a_wait_in_the_visual_editor(site: tuple[str, int], admin_page: Any) -> None:
    from playwright.sync_api import expect

    (url, workflow_id), page = site, admin_page
    page.goto(f"{url}/workflows")
    page.get_by_role("link", name="Quote follow-up").first.click()
    page.get_by_role("link", name="Edit").first.click()
    expect(page.get_by_role("heading", name="Edit Quote follow-up")).to_be_visible()
    assert _fits_and_passes_axe(page) == []

    steps = page.get_by_role("list", name="Workflow steps").locator("> li")
    wait = steps.nth(1)
    expect(wait.get_by_role("heading")).to_have_text("2 Wait")
    expect(wait.get_by_text("quote_email")).to_have_count(0)  # no internal keys on the cards
    days = wait.get_by_label("days")
    expect(days).to_have_value("3")
    days.fill("5")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved Quote follow-up (version 2).")).to_be_visible()

    exported = page.request.get(f"{url}/workflows/{workflow_id}/yaml?download=1")
    assert exported.ok
    text = exported.text()
    step = next(s for s in yaml.safe_load(text)["steps"] if s["key"] == "wait_reminder")
    assert step["duration"]["days"] == 5
    assert "days: 5" in text


def test_a_branch_condition_is_built_with_the_rule_builder(site: tuple[str, int], admin_page: Any) -> None:
    from playwright.sync_api import expect

    (url, workflow_id), page = site, admin_page
    page.goto(f"{url}/workflows/{workflow_id}/edit")
    page.locator(".add-step").get_by_role("button", name="Branch").click()
    branch = page.locator(".flow-branch").last
    condition = branch.locator(".rb-condition").first
    condition.get_by_label("Field").select_option("region")
    condition.get_by_label("Operator").select_option("eq")
    condition.get_by_label("Value").fill("North")
    expect(branch.locator("details.rule-json")).not_to_have_attribute("open", "")
    assert _fits_and_passes_axe(page) == []
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Saved Quote follow-up (version 2).")).to_be_visible()

    exported = yaml.safe_load(page.request.get(f"{url}/workflows/{workflow_id}/yaml?download=1").text())
    step = exported["steps"][-1]
    assert step["type"] == "branch"
    assert step["rule"] == {"all": [{"field": "region", "op": "eq", "value": "North"}]}

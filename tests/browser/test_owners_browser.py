"""In Chromium: a sales person gives profiles an owner from the profiles list's bulk bar, sees them
under "My customers", and assigns a whole search of more than 100 profiles after confirming the exact
count on a page that passes axe-core and fits at 390 px and 1,280 px."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from crm_segments import create_app, migrate
from crm_segments.models import Profile
from crm_segments.state import get_state
from tests.browser.conftest import SALES, WIDE, add_accounts
from tests.browser.test_accessibility_browser import (
    AXE_RUN,
    NARROW,
    NEXT_FRAME,
    OVERFLOW,
    SIDEWAYS,
)

pytestmark = [pytest.mark.browser]

FAR_NORTH = 101  # one more than a bulk change makes without asking


@pytest.fixture
def site_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chromium_path: str) -> Iterator[str]:
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    database_url = f"sqlite:///{tmp_path / 'crm.db'}"
    migrate.upgrade(database_url)
    app = create_app({"CRM_SEGMENTS_DATABASE_URL": database_url,
                      "SECRET_KEY": "browser-test-secret-key-0123456789"})
    with get_state(app).session_factory() as session, session.begin():
        add_accounts(session, SALES)
        session.add_all(Profile(external_id=f"P-{n:04d}", first_name="Person", last_name=f"{n:04d}",
                                region="Far North" if n < FAR_NORTH else "South", country="US")
                        for n in range(FAR_NORTH + 3))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        get_state(app).engine.dispose()


def _fits_and_passes_axe(page: Any) -> list[str]:
    page.set_viewport_size(WIDE)
    found = [f"axe {line}" for line in page.evaluate(AXE_RUN)] + list(page.evaluate(OVERFLOW))
    page.set_viewport_size(NARROW)
    page.evaluate(NEXT_FRAME)
    if sideways := page.evaluate(SIDEWAYS):
        found.append(f"390 px: {sideways}")
    found += [f"390 px: axe {line}" for line in page.evaluate(AXE_RUN)]
    page.set_viewport_size(WIDE)
    return found


def test_a_sales_person_assigns_owners_and_sees_my_customers(site_url: str, sales_page: Any) -> None:
    from playwright.sync_api import expect

    url, page = site_url, sales_page
    page.goto(f"{url}/profiles")

    boxes = page.get_by_role("checkbox", name="Select this profile")
    boxes.nth(0).check()
    boxes.nth(1).check()
    expect(page.get_by_label("Owner", exact=True).last).to_have_value(re.compile(r"\d+"))  # me
    page.get_by_role("button", name="Assign owner").click()
    expect(page.get_by_text("Sam Sales now owns 2 profiles.")).to_be_visible()
    page.get_by_role("link", name="My customers").click()
    expect(page.get_by_role("heading", name="My customers")).to_be_visible()
    expect(page.locator("#profiles-table tbody tr")).to_have_count(2)

    page.goto(f"{url}/profiles?region=Far+North")
    page.get_by_role("radio", name=re.compile("every profile matching")).check()
    page.get_by_role("button", name="Assign owner").click()
    confirm = page.get_by_role("heading", name=f"Confirm a change to {FAR_NORTH} profiles")
    expect(confirm).to_be_visible()
    assert _fits_and_passes_axe(page) == []
    page.get_by_role("button", name=f"Yes, change {FAR_NORTH} profiles").click()
    expect(page.get_by_text(f"Sam Sales now owns {FAR_NORTH} profiles.")).to_be_visible()
    page.get_by_role("link", name="My customers").click()
    expect(page.locator("#profiles-table tbody tr")).to_have_count(50)  # a full first page

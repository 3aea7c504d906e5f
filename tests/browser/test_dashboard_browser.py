"""In Chromium, on a demo-seeded app: the home dashboard per role, the messages chart and its table,
the RFM grid down to a cell saved as a static list, and that list's segment page with its sources."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from crm_segments.cli.showcase import Showcase, showcase_app
from crm_segments.state import get_state
from tests.browser.conftest import Account

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "dashboard-browser-password"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, chromium_path: str) -> Iterator[tuple[str, Showcase]]:
    folder = tmp_path_factory.mktemp("dashboard")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(folder / "instance"))
        showcase = showcase_app(folder, password=PASSWORD, profiles=150)
    server = make_server("127.0.0.1", 0, showcase.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="dashboard-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", showcase
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        get_state(showcase.app).engine.dispose()


@pytest.fixture
def site_url(served: tuple[str, Showcase]) -> str:
    return served[0]


@pytest.fixture
def admin_account(served: tuple[str, Showcase]) -> Account:
    return Account(served[1].admin_email, PASSWORD)


@pytest.fixture
def sales_account(served: tuple[str, Showcase]) -> Account:
    return Account(served[1].sales_email, PASSWORD, role="sales")


def test_dashboard_rfm_grid_and_saving_a_cell(sales_page: Any, admin_page: Any) -> None:
    from playwright.sync_api import expect

    sales, admin = sales_page, admin_page
    expect(sales.get_by_role("heading", name="Home", level=1)).to_be_visible()
    owned = re.compile(r"Your customers first \([\d,]+ profiles you own\)")
    expect(sales.get_by_text(owned)).to_be_visible()
    quotes = sales.locator("#quotes-awaiting")
    expect(quotes.get_by_text("of your customers")).to_be_visible()
    expect(quotes.get_by_role("link", name="Quote follow-up").first).to_be_visible()

    chart = admin.get_by_role("img", name="Messages per day")
    expect(chart).to_be_visible()
    admin.locator("#messages-per-day summary").click()
    expect(admin.locator("#messages-per-day table tbody tr")).to_have_count(30)
    admin.get_by_role("link", name="90 days").click()
    expect(admin.get_by_role("heading", name="Messages per day, last 90 days")).to_be_visible()
    expect(admin.locator("#messages-per-day table tbody tr")).to_have_count(90)
    sent = admin.locator("#messages-per-day .stat-value").first.inner_text()
    assert int(sent.replace(",", "")) > 0
    expect(admin.locator("#segment-trends svg.sparkline").first).to_be_visible()

    admin.get_by_role("link", name="RFM grid").click()
    expect(admin.get_by_role("heading", name="RFM grid")).to_be_visible()
    cell = admin.locator("#rfm-grid td a").first
    label = cell.get_attribute("title") or ""
    found = re.match(r"Recency (\d), frequency (\d): ([\d,]+) customers?", label)
    assert found, label
    recency, frequency, count = found.group(1), found.group(2), int(found.group(3).replace(",", ""))
    cell.click()
    heading = f"Recency {recency}, frequency {frequency}"
    expect(admin.get_by_role("heading", name=heading)).to_be_visible()
    expect(admin.locator("#rfm-customers tbody tr")).to_have_count(min(count, 50))

    admin.get_by_label("List name").fill(f"Browser R{recency} F{frequency}")
    admin.get_by_role("button", name=re.compile(r"^Save [\d,]+ profiles?$")).click()
    expect(admin.get_by_role("alert")).to_contain_text(f"Saved {count:,} profile")
    expect(admin.get_by_role("heading", name=f"Browser R{recency} F{frequency}")).to_be_visible()
    expect(admin.get_by_role("img", name="Members per day")).to_be_visible()
    expect(admin.locator("#acquisition-table tbody tr").first).to_be_visible()

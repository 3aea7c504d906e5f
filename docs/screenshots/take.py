"""Take the screenshots in this folder again: a demo-seeded app (crm_segments.cli.showcase.py) served
on a free local port, pages opened in Chromium at 1,280 px.

    .venv/bin/python docs/screenshots/take.py [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from pathlib import Path

from werkzeug.serving import make_server

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # run from a checkout without installing

from crm_segments.cli.showcase import showcase_app  # noqa: E402

PASSWORD = "showcase-password-1"
VIEWPORT = {"width": 1280, "height": 900}


def _shots(page, url: str) -> None:  # type: ignore[no-untyped-def]
    """Each screenshot: its file name, then how to get there."""
    page.goto(f"{url}/")
    page.screenshot(path=str(HERE / "dashboard.png"), full_page=True)

    page.goto(f"{url}/rfm")
    page.screenshot(path=str(HERE / "rfm-grid.png"), full_page=True)

    # A related-records condition whose time window counts from the date picked on its line.
    page.goto(f"{url}/segments/new")
    page.get_by_label("Name").fill("Quotes sent this week")
    root = page.locator("#rule-builder > .rb-group")
    root.locator(":scope > .rb-adds").get_by_role("button", name="+ related records").click()
    root.locator(":scope > .rb-children > .rb-row").first.locator(":scope > .rb-remove").click()
    quotes = page.locator(".rb-records").first
    quotes.get_by_role("button", name="+ time window").click()
    head = quotes.locator(":scope > .rb-head")
    head.get_by_label("Window date").select_option("sent_at")
    head.get_by_label("Window", exact=True).fill("7")
    head.get_by_label("Window", exact=True).press("Tab")
    page.locator("#preview-count").wait_for()
    page.screenshot(path=str(HERE / "rule-builder.png"), full_page=True)

    # The profiles list with a saved view beside it and the column picker open.
    page.goto(f"{url}/profiles?sort=region")
    page.get_by_text("Save as a view", exact=True).click()
    page.get_by_label("View name").fill("By region")
    page.get_by_role("button", name="Save view").click()
    page.get_by_text("Columns", exact=True).click()
    page.locator("#column-picker").get_by_label("Company").uncheck()
    page.screenshot(path=str(HERE / "list-views.png"))  # the top of the list: the table runs on

    page.goto(f"{url}/workflows")
    page.get_by_role("link", name="Quote follow-up").first.click()
    page.get_by_role("link", name="Edit").first.click()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(HERE / "workflow-editor.png"), full_page=True)


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the Chromium executable")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="crm-screenshots-"))
    os.environ.setdefault("CRM_SEGMENTS_INSTANCE_DIR", str(folder / "instance"))
    showcase = showcase_app(folder, password=PASSWORD)
    server = make_server("127.0.0.1", 0, showcase.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium,
                                                 args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(f"{url}/login")
            page.get_by_label("Email").fill(showcase.admin_email)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{url}/")
            _shots(page, url)
            browser.close()
    finally:
        server.shutdown()
        thread.join(timeout=10)
    print(f"Screenshots written to {HERE}")


if __name__ == "__main__":
    main()

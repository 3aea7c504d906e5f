"""In Chromium, as a sales person: saving a view of the profiles list (with no way to share it with
everyone), and a view an admin shared, which the sales person opens but can neither rename nor delete:
the controls are absent, and a crafted POST to either route gets 403 and changes nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser

SHARED = "Team: by region"


def _share_a_view(page: Any, url: str) -> str:
    """As an admin, save the list sorted by region as a view shared with everyone; its id."""
    from playwright.sync_api import expect

    page.goto(f"{url}/profiles?sort=region")
    page.get_by_text("Save as a view", exact=True).click()
    page.get_by_label("View name").fill(SHARED)
    page.get_by_label("Share with everyone").check()
    page.get_by_role("button", name="Save view").click()
    expect(page.get_by_role("alert")).to_contain_text(f"Saved the view {SHARED}")
    action = page.locator("form[action$='/rename']").get_attribute("action")
    found = re.search(r"/saved-views/(\d+)/rename$", action or "")
    assert found, action
    return found.group(1)


def _view_links(page: Any) -> list[str]:
    return [text.strip() for text in page.locator("#saved-views a").all_inner_texts()]


def test_a_sales_person_saves_a_view_but_cannot_share_or_change_a_shared_one(
        admin_page: Any, sales_page: Any, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    url, page = live_server.url, sales_page
    view_id = _share_a_view(admin_page, url)

    # Their own view: saved, opened and theirs to rename or delete, but never shared.
    page.goto(f"{url}/profiles?sort=-region")
    page.get_by_text("Save as a view", exact=True).click()
    expect(page.get_by_label("View name")).to_be_visible()
    expect(page.get_by_label("Share with everyone")).to_have_count(0)
    page.get_by_label("View name").fill("Mine: region, Z first")
    page.get_by_role("button", name="Save view").click()
    expect(page.get_by_role("alert")).to_contain_text("Saved the view Mine: region, Z first")
    expect(page.get_by_role("link", name="Mine: region, Z first")).to_have_attribute("aria-current", "page")
    expect(page.get_by_text("Rename or delete “Mine: region, Z first”", exact=True)).to_be_visible()

    # The admin's shared view: listed and opened, with no rename or delete controls.
    page.get_by_role("link", name=re.compile(f"^{SHARED}")).click()
    expect(page.get_by_role("link", name=re.compile(f"^{SHARED}"))).to_have_attribute("aria-current", "page")
    expect(page.get_by_text(re.compile("^Rename or delete"))).to_have_count(0)
    expect(page.locator("form[action*='/saved-views/']")).to_have_count(0)
    before = _view_links(page)
    assert any(text.startswith(SHARED) for text in before)

    # Crafted POSTs with the sales person's own session and CSRF token: refused, nothing changed.
    token = page.locator("input[name=csrf_token]").first.input_value()
    renamed = page.request.post(f"{url}/saved-views/{view_id}/rename",
                                form={"csrf_token": token, "name": "Taken over"}, max_redirects=0)
    assert renamed.status == 403, renamed.status
    deleted = page.request.post(f"{url}/saved-views/{view_id}/delete",
                                form={"csrf_token": token}, max_redirects=0)
    assert deleted.status == 403, deleted.status

    page.reload()
    assert _view_links(page) == before
    admin_page.goto(f"{url}/profiles")
    admin_links = _view_links(admin_page)
    assert any(text.startswith(SHARED) for text in admin_links)
    assert not any("Taken over" in text for text in admin_links)
    assert not any("Mine:" in text for text in admin_links)  # a sales person's view stays theirs

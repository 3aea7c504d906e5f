"""In Chromium: a person picks the profiles list's columns, sorts it and saves that as a view;
after a reload and from the plain list the view opens with the same columns and sort. The picker and
the save form are keyboard-operable, pass axe-core and fit at 390 px."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import LiveServer
from tests.browser.test_accessibility_browser import AXE_RUN, NARROW, NEXT_FRAME, SIDEWAYS

pytestmark = pytest.mark.browser


def _headers(page: Any) -> list[str]:
    return [re.sub(r"[▲▼]", "", text).strip() for text in
            page.locator("#profiles-table thead th").all_text_contents() if text.strip()]


def test_pick_columns_save_a_view_and_reopen_it(admin_page: Any, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    page = admin_page
    page.goto(f"{live_server.url}/profiles")
    assert "Company" in _headers(page) and "Tags" in _headers(page)

    # By keyboard: open the picker, untick Company, Lifecycle and Tags, show the rest.
    page.get_by_text("Columns", exact=True).focus()
    page.keyboard.press("Enter")
    picker = page.locator("#column-picker")
    expect(picker.get_by_role("group", name="Columns shown")).to_be_visible()
    for name in ("Company", "Lifecycle", "Tags"):
        picker.get_by_label(name).focus()
        page.keyboard.press("Space")
    expect(picker.get_by_label("Name")).to_be_disabled()
    picker.get_by_role("button", name="Show these columns").press("Enter")
    expect(page.locator("#profiles-table")).to_be_visible()
    assert _headers(page) == ["Name", "Email", "Region", "Owner"]

    page.get_by_role("link", name="Region", exact=True).click()
    expect(page.get_by_role("columnheader", name=re.compile("^Region"))).to_have_attribute(
        "aria-sort", "ascending")
    assert _headers(page) == ["Name", "Email", "Region", "Owner"]  # sorting keeps the columns

    page.get_by_text("Save as a view", exact=True).click()
    page.get_by_label("View name").fill("By region, short")
    problems = [f"axe {line}" for line in page.evaluate(AXE_RUN)]
    page.get_by_role("button", name="Save view").click()
    expect(page.get_by_role("alert")).to_contain_text("Saved the view By region, short")

    page.reload()
    opened = page.get_by_role("link", name="By region, short")
    expect(opened).to_have_attribute("aria-current", "page")
    assert _headers(page) == ["Name", "Email", "Region", "Owner"]

    page.goto(f"{live_server.url}/profiles")
    assert "Company" in _headers(page)
    page.get_by_role("link", name="By region, short").click()
    expect(page.get_by_role("link", name="By region, short")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("columnheader", name=re.compile("^Region"))).to_have_attribute(
        "aria-sort", "ascending")
    assert _headers(page) == ["Name", "Email", "Region", "Owner"]

    for summary in ("Columns", "Save as a view", "Rename or delete “By region, short”"):
        page.get_by_text(summary, exact=True).click()
    problems += [f"axe {line}" for line in page.evaluate(AXE_RUN)]
    page.set_viewport_size(NARROW)
    page.evaluate(NEXT_FRAME)
    if sideways := page.evaluate(SIDEWAYS):
        problems.append(f"390 px: {sideways}")
    problems += [f"390 px: axe {line}" for line in page.evaluate(AXE_RUN)]
    assert problems == []

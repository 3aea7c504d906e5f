"""In Chromium: the profiles list says how many profiles match and sorts by a column header (again:
the other way), and a profile's activity timeline shows a tag added a moment ago, on the profile page
and on its own activity page, which passes axe-core and fits at 390 px and 1,280 px."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import DEMO_PROFILES, LiveServer
from tests.browser.test_accessibility_browser import (
    AXE_RUN,
    NARROW,
    NEXT_FRAME,
    OVERFLOW,
    SIDEWAYS,
)

pytestmark = pytest.mark.browser


def _first_names(page: Any) -> list[str]:
    links = page.locator("#profiles-table tbody tr td:nth-child(2) a")
    return [name.split()[0] for name in links.all_inner_texts()]


def test_the_list_counts_and_sorts_by_a_header(admin_page: Any, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    page = admin_page

    page.goto(f"{live_server.url}/profiles")
    expect(page.locator("#list-total")).to_contain_text(f"of {len(DEMO_PROFILES)} profiles")
    page.get_by_role("link", name="Name", exact=True).click()
    name_header = page.get_by_role("columnheader", name=re.compile("^Name"))
    expect(name_header).to_have_attribute("aria-sort", "ascending")
    by_last_name = sorted(DEMO_PROFILES, key=lambda p: p[1])
    assert _first_names(page)[:len(DEMO_PROFILES)] == [p[0] for p in by_last_name]
    page.get_by_role("link", name=re.compile("^Name")).click()
    expect(name_header).to_have_attribute("aria-sort", "descending")
    assert _first_names(page)[:len(DEMO_PROFILES)] == [p[0] for p in reversed(by_last_name)]


def test_the_activity_timeline_shows_a_tag_just_added(admin_page: Any, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    page = admin_page

    page.goto(f"{live_server.url}/profiles")
    page.get_by_role("link", name="Katherine Johnson").click()
    editor = page.locator(".tag-editor").first
    editor.get_by_label("Add a tag").fill("Timeline check")
    editor.get_by_role("option", name=re.compile("Create")).click()
    expect(editor.locator(".tag-list")).to_contain_text("Timeline check")
    page.reload()
    activity = page.locator("#activity")
    expect(activity.get_by_text("Tag 'Timeline check' added")).to_be_visible()
    activity.get_by_role("link", name="All activity").click()
    expect(page.get_by_role("heading", name="Activity of Katherine Johnson")).to_be_visible()
    expect(page.get_by_text("Tag 'Timeline check' added")).to_be_visible()

    problems = [f"axe {line}" for line in page.evaluate(AXE_RUN)] + list(page.evaluate(OVERFLOW))
    page.set_viewport_size(NARROW)
    page.evaluate(NEXT_FRAME)
    if sideways := page.evaluate(SIDEWAYS):
        problems.append(f"390 px: {sideways}")
    problems += [f"390 px: axe {line}" for line in page.evaluate(AXE_RUN)]
    assert problems == []

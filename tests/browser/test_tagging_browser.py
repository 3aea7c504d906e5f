"""In a real browser: tag profiles with the type-ahead tag editor and the bulk tag bar.

(The rule builder's browser test is tests/segments/test_rule_builder_browser.py.)"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.browser


def test_tag_editor_creates_suggests_adds_and_removes_tags(admin_page: Any, live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    page = admin_page

    def open_profile(name: str) -> None:
        page.goto(f"{live_server.url}/profiles")
        page.get_by_role("link", name=name).click()
        expect(page.get_by_role("heading", name=name)).to_be_visible()

    open_profile("Grace Hopper")
    editor = page.locator(".tag-editor").first
    editor.get_by_label("Add a tag").fill("Key account")
    editor.get_by_role("option", name=re.compile("Create")).click()
    expect(editor.locator(".tag-list")).to_contain_text("Key account")

    # on another profile the existing tag is offered by type-ahead, in any letter case
    open_profile("Alan Turing")
    editor = page.locator(".tag-editor").first
    editor.get_by_label("Add a tag").fill("KEY")
    suggestion = editor.get_by_role("option").first
    expect(suggestion).to_have_text("Key account")
    suggestion.click()
    expect(editor.locator(".tag-list")).to_contain_text("Key account")

    page.reload()  # the tag was saved, not only drawn
    editor = page.locator(".tag-editor").first
    expect(editor.locator(".tag-list")).to_contain_text("Key account")
    editor.get_by_label("Remove tag Key account").click()
    expect(editor.locator(".tag-list .tag-item")).to_have_count(0)
    page.reload()
    expect(page.locator(".tag-editor").first.locator(".tag-list .tag-item")).to_have_count(0)

    # an empty name is refused with a message, and nothing is added
    editor = page.locator(".tag-editor").first
    editor.get_by_label("Add a tag").fill("   ")
    editor.get_by_role("button", name="Add").click()
    expect(editor.locator(".tag-error")).to_be_visible()
    expect(editor.locator(".tag-list .tag-item")).to_have_count(0)


def test_bulk_bar_tags_the_ticked_rows_and_undo_takes_it_back(admin_page: Any,
                                                              live_server: LiveServer) -> None:
    from playwright.sync_api import expect

    page = admin_page

    page.goto(f"{live_server.url}/profiles")
    table = page.locator("#profiles-table")
    bar = page.locator("#bulk-tag-bar")
    expect(bar.locator(".bulk-selected-count")).to_have_text("0")
    table.locator("tr", has_text="Grace Hopper").get_by_label("Select this profile").check()
    table.locator("tr", has_text="Alan Turing").get_by_label("Select this profile").check()
    expect(bar.locator(".bulk-selected-count")).to_have_text("2")
    bar.get_by_label(re.compile("^Tags")).fill("Spring promo")
    bar.get_by_role("button", name="Add tags").click()

    expect(page.get_by_role("alert").or_(page.locator(".flash-success"))).to_contain_text(
        "Added 'Spring promo' to 2 profiles")
    rows = page.locator("#profiles-table tbody tr", has_text="Spring promo")
    expect(rows).to_have_count(2)
    expect(page.locator("#profiles-table tbody tr", has_text="Grace Hopper")).to_contain_text("Spring promo")

    page.get_by_role("link", name="Bulk operations and undo").click()
    page.get_by_role("button", name=re.compile("Undo")).first.click()
    page.goto(f"{live_server.url}/profiles")
    expect(page.locator("#profiles-table tbody tr", has_text="Spring promo")).to_have_count(0)

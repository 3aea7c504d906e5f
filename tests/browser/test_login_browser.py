"""In a real browser: sign in, find a demo profile by searching, open it, sign out."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import CHROMIUM_ARGS, LiveServer

pytestmark = pytest.mark.browser


def test_sign_in_and_find_a_profile_by_searching(chromium_path: str, live_server: LiveServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{live_server.url}/")
            expect(page).to_have_url(re.compile(r"/login\?next="))

            page.get_by_label("Email").fill(live_server.email)
            page.get_by_label("Password").fill("wrong password")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")

            page.get_by_label("Password").fill(live_server.password)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Home")).to_be_visible()
            expect(page.locator(".account")).to_contain_text("admin")
            page.get_by_role("navigation", name="Main").get_by_role("link", name="Profiles").click()
            expect(page.locator("#profiles-table tbody tr")).to_have_count(5)

            page.get_by_label("Search").fill("lovel")
            page.get_by_role("button", name="Search").click()
            rows = page.locator("#profiles-table tbody tr")
            expect(rows).to_have_count(1)
            expect(rows.first).to_contain_text("ada.lovelace@analytical.example")

            rows.first.get_by_role("link", name="Ada Lovelace").click()
            expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
            expect(page.locator("#contact")).to_contain_text("ada.lovelace@analytical.example")
            # the local stylesheet loaded: the top bar is dark, not the browser's default white
            assert page.eval_on_selector(".topbar", "e => getComputedStyle(e).backgroundColor") \
                == "rgb(17, 24, 39)"

            page.get_by_role("button", name="Sign out").click()
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        finally:
            browser.close()

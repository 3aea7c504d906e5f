# ruff: noqa: F811  (the chromium_path fixture imported from tests/browser/conftest.py)
"""In a real browser: the visual rule builder edits the rule and the live preview count follows."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

import crm_segments.models  # noqa: F401  (fills Base.metadata)
from crm_segments import create_app
from crm_segments.accounts import users
from crm_segments.db import Base
from crm_segments.models import Profile
from crm_segments.state import get_state
from tests.browser.conftest import (  # noqa: F401  (fixture)
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    CHROMIUM_ARGS,
    LiveServer,
    chromium_path,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("builder")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(folder / "instance"))
        app = create_app({"CRM_SEGMENTS_DATABASE_URL": f"sqlite:///{folder / 'crm.db'}",
                          "SECRET_KEY": "browser-test-secret-key-0123456789"})
    state = get_state(app)
    Base.metadata.create_all(state.engine)
    with state.session_factory() as session, session.begin():
        users.create_user(session=session, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, role="admin",
                          name="Admin")
        for n, (status, region) in enumerate([("customer", "Ontario"), ("customer", "Quebec"),
                                              ("lead", "Ontario"), ("customer", "Ontario")]):
            session.add(Profile(external_id=f"B-{n}", first_name=f"P{n}", lifecycle_status=status,
                                region=region))
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{http.server_port}", ADMIN_EMAIL, ADMIN_PASSWORD)
    finally:
        http.shutdown()
        thread.join(timeout=10)
        http.server_close()
        state.engine.dispose()


def test_builder_edits_the_rule_and_the_preview_follows(chromium_path: str, server: LiveServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{server.url}/login")
            page.get_by_label("Email").fill(server.email)
            page.get_by_label("Password").fill(server.password)
            page.get_by_role("button", name="Sign in").click()

            page.goto(f"{server.url}/segments/new")
            # The default rule is "lifecycle status is customer": three of the four profiles.
            expect(page.locator("#preview-count")).to_have_text("3")

            page.get_by_role("button", name="+ condition").click()
            page.locator(".rb-condition").nth(1).get_by_label("Field").select_option("region")
            page.locator(".rb-condition").nth(1).get_by_label("Value").fill("Ontario")
            expect(page.locator("#preview-count")).to_have_text("2")

            page.get_by_label("Group type").select_option("any")
            expect(page.locator("#preview-count")).to_have_text("4")

            page.locator(".rb-condition").nth(1).get_by_label("Operator").select_option("contains")
            page.locator(".rb-condition").nth(1).get_by_label("Value").fill("")
            expect(page.locator("#preview-error")).to_contain_text("rule.any[1].value")

            page.locator(".rb-condition").nth(1).get_by_label("Value").fill("bec")
            expect(page.locator("#preview-count")).to_have_text("3")
            page.get_by_label("Name").fill("Customers or Quebec")
            page.get_by_role("button", name="Save and refresh").click()
            # Saving queues the refresh; its page follows it and links back to the segment.
            expect(page.get_by_role("status")).to_contain_text("Customers or Quebec: 3 members",
                                                               timeout=30_000)
            page.get_by_role("link", name="← Customers or Quebec").click()
            expect(page.get_by_role("heading", name="Customers or Quebec")).to_be_visible()
            expect(page.locator(".subtitle")).to_contain_text("3 members")
            expect(page.locator(".rule-text")).to_contain_text("Region contains bec")
        finally:
            browser.close()

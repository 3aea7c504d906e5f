"""Every page under the Content-Security-Policy, in Chromium, as an admin and as a sales person: no
violation reported (securitypolicyviolation events and the console), no script error, and the
behaviour that moved out of inline attributes still works (confirmations, the outbox filter, tag
colours, the segment builder).

The pages are the GET routes of the plugin's blueprints, each filled with an id of a row the fixture
made; a new page whose path needs an id this test cannot fill fails it, so it is added here.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.routing import Rule
from werkzeug.serving import make_server

from crm_segments import create_app
from crm_segments.accounts import users
from crm_segments.cli.admin import init_database
from crm_segments.cli.server import prepare_first_pages
from crm_segments.delivery.links import unsubscribe_token
from crm_segments.demo.seed import seed_demo
from crm_segments.models import (
    AutoTagRule,
    Enrollment,
    Job,
    Opportunity,
    Profile,
    Quote,
    Segment,
    Workflow,
)
from crm_segments.models.tasks import BackgroundTask
from crm_segments.schemas.tags import TagIn
from crm_segments.state import get_state
from crm_segments.tagging import management, manual
from crm_segments.workflows.template_saving import save_template
from tests.browser.conftest import CHROMIUM_ARGS, Account, add_accounts, sign_in
from tests.web.message_data import message

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN = Account("csp.admin@example.com", "csp-admin-passphrase", name="Csp Admin")
SALES = Account("csp.sales@example.com", "csp-sales-passphrase", role="sales", name="")
SECRET_KEY = "csp-browser-secret-key-0123456789"
BLUEPRINTS = ("crm_ui", "crm_auth", "crm_webhooks")
# Answers that are not pages (downloads, JSON): no document for a policy to act in.
NOT_PAGES = {"crm_ui.static", "crm_ui.profile_export", "crm_ui.segment_export", "crm_ui.tag_suggest"}
RECORD_KINDS = ("quotes", "jobs", "opportunities")
# Recorded in every document before its own scripts run (Playwright adds it outside the page's CSP).
WATCH = """
window.__crmViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__crmViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
                              " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


@dataclass(frozen=True)
class Site:
    url: str
    ids: dict[str, Any]
    rules: list[Rule]


def _seed(app: Flask) -> dict[str, Any]:
    init_database(app)
    seed_demo(app, profiles=30, seed=3)
    prepare_first_pages(app)
    factory = get_state(app).session_factory
    with factory() as session, session.begin():
        admin, sales = add_accounts(session, ADMIN, SALES)
        key, _ = users.create_api_key(session=session, email=SALES.email, name="host crm")
        key.last_used_at = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
        tag = management.create_tag(session=session, data=TagIn(
            name="csp-violet", color="#7c3aed", description="A coloured tag"), user_id=admin.id)
        profile = session.scalars(select(Profile).order_by(Profile.id).limit(1)).one()
        manual.add_tag(session=session, entity_type="profile", entity_id=profile.id, tag_id=tag.id,
                       user_id=admin.id)
        workflow = session.scalars(select(Workflow).order_by(Workflow.id).limit(1)).one()
        enrollment = Enrollment(workflow_id=workflow.id, profile_id=profile.id, trigger_key="csp-browser",
                                status="active")
        session.add(enrollment)
        unknown = message(session, profile, status="unknown", sent_at=None, workflow_id=workflow.id)

        def first(model: Any) -> int:
            return int(session.scalars(select(model.id).order_by(model.id).limit(1)).one())

        # made here, so it has a delete page as well as an edit page
        template = save_template(session, key="transactional/csp-note", channel="email",
                                 content_type="transactional", name="CSP note", subject="A note",
                                 text_body="Hello {{ profile.first_name }}", user_id=admin.id)
        done = dt.datetime.now(dt.UTC)
        task = BackgroundTask(kind="segment_refresh", subject=f"segment:{first(Segment)}", status="done",
                              params={"segment_id": first(Segment)}, outcome="Refreshed",
                              created_by_id=admin.id, started_at=done, finished_at=done)
        session.add(task)
        session.flush()

        return {
            "profile_id": profile.id, "segment_id": first(Segment), "tag_id": tag.id,
            "rule_id": first(AutoTagRule), "task_id": task.id, "user_id": sales.id, "admin_id": admin.id,
            "workflow_id": workflow.id, "enrollment_id": enrollment.id, "message_id": unknown.id,
            "key": template.key,
            "token": unsubscribe_token(SECRET_KEY, profile_id=profile.id, message_id=unknown.id),
            "records": {"quotes": first(Quote), "jobs": first(Job), "opportunities": first(Opportunity)},
            "api_key": key.prefix,
            "recency": 5, "frequency": 5,  # an RFM grid cell
        }


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, chromium_path: str) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("csp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(folder / "instance"))
        app = create_app({"CRM_SEGMENTS_DATABASE_URL": f"sqlite:///{folder / 'crm.db'}",
                          "SECRET_KEY": SECRET_KEY, "CRM_SEGMENTS_OUTBOX_DIR": str(folder / "outbox"),
                          "CRM_SEGMENTS_BACKGROUND_WORKER": False})
        ids = _seed(app)
    rules = sorted((rule for rule in app.url_map.iter_rules()
                    if rule.endpoint.partition(".")[0] in BLUEPRINTS and "GET" in (rule.methods or ())
                    and rule.endpoint not in NOT_PAGES), key=lambda rule: rule.rule)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="csp-server", daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_port}", ids, rules)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        get_state(app).engine.dispose()


def page_paths(site: Site) -> list[str]:
    """Every page's path, its ids filled from the fixture's rows (one path per record kind)."""
    paths: list[str] = []
    for rule in site.rules:
        args = set(rule.arguments)
        kinds = RECORD_KINDS if "kind" in args else (None,)
        for kind in kinds:
            values = {name: site.ids[name] for name in args - {"kind", "record_id"} if name in site.ids}
            if kind:
                values["kind"] = kind
                if "record_id" in args:
                    values["record_id"] = site.ids["records"][kind]
            missing = args - set(values)
            assert not missing, f"{rule.rule}: no id for {sorted(missing)}; add a row for it to this test"
            path = rule.rule
            for name, value in values.items():  # <name> or <converter:name>, whatever the converter
                path = re.sub(rf"<(?:[^<>:]+:)?{name}>", str(value), path)
            paths.append(path)
    return paths


class Watched:
    """A signed-in browser page that keeps every CSP violation, CSP console message and script error."""

    def __init__(self, browser: Any, site: Site, account: Account) -> None:
        self.context = browser.new_context()
        self.context.add_init_script(WATCH)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"{self.page.url}: script {error}"))
        self.site = site
        sign_in(self.page, site.url, account)

    def _console(self, entry: Any) -> None:
        text = entry.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text or "Refused to" in text:
            self.problems.append(f"{self.page.url}: console: {text}")

    def visit(self, path: str) -> int:
        response = self.page.goto(f"{self.site.url}{path}")
        self.page.wait_for_load_state("load")
        found = self.page.evaluate("window.__crmViolations || []")
        self.problems += [f"{path}: {violation}" for violation in found]
        return response.status if response is not None else 0

    def close(self) -> None:
        self.context.close()


def test_every_page_loads_under_the_policy_without_a_violation(site: Site, chromium_path: str) -> None:
    from playwright.sync_api import sync_playwright

    paths = page_paths(site)
    assert len(paths) >= 45
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            for account in (ADMIN, SALES):
                watched = Watched(browser, site, account)
                statuses = {path: watched.visit(path) for path in paths}
                watched.close()
                errors = {path: status for path, status in statuses.items() if status >= 500}
                assert errors == {}, account.email
                assert watched.problems == [], account.email
                if account == ADMIN:
                    refused = {path: status for path, status in statuses.items() if status >= 400}
                    assert refused == {}
            # the login page and the unsubscribe page, signed out
            context = browser.new_context()
            context.add_init_script(WATCH)
            page = context.new_page()
            for path in ("/login", f"/unsubscribe/{site.ids['token']}"):
                page.goto(f"{site.url}{path}")
                assert page.evaluate("window.__crmViolations") == [], path
            context.close()
        finally:
            browser.close()


def test_what_moved_out_of_inline_attributes_still_works(site: Site, chromium_path: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            watched = Watched(browser, site, ADMIN)
            page = watched.page

            # Tag colours come from data attributes.
            watched.visit("/tags")
            badge = page.locator(".badge-tag", has_text="csp-violet").first
            expect(badge).to_be_visible()
            assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(124, 58, 237)"

            # A confirmation: dismissed, nothing happens; accepted, the form is sent.
            user_path = f"/users/{site.ids['user_id']}"
            watched.visit(user_path)
            questions: list[str] = []

            def answer(dialog: Any, accept: bool) -> None:
                questions.append(dialog.message)
                dialog.accept() if accept else dialog.dismiss()

            page.once("dialog", lambda dialog: answer(dialog, False))
            page.get_by_role("button", name="Deactivate").click()
            expect(page.locator("#user-state")).to_have_text("active")
            page.once("dialog", lambda dialog: answer(dialog, True))
            page.get_by_role("button", name="Deactivate").click()
            expect(page.locator("#user-state")).to_have_text("deactivated")
            assert len(questions) == 2 and questions[0].startswith("Deactivate csp.sales@example.com?")
            page.get_by_role("button", name="Reactivate").click()  # asks nothing
            expect(page.locator("#user-state")).to_have_text("active")

            # The outbox's channel filter submits itself.
            watched.visit("/outbox")
            page.select_option("#channel", "sms")
            page.wait_for_url("**/outbox?channel=sms")

            # The segment builder (a static script) draws its editor.
            watched.visit("/segments/new")
            expect(page.locator("#rule-builder *").first).to_be_attached()

            assert watched.problems == []
            watched.close()
        finally:
            browser.close()

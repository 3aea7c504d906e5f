"""A day's work in Chromium, on SQLite and on PostgreSQL: the app served as ``crm-segments run`` serves it
(waitress threads over the app's own engine, the scheduler running in the same process, a few hundred
demo profiles), a sales person and an admin working in fast succession.

The day: sign in, search, tag a profile, bulk tag a selection and undo it, build and save a segment,
refresh it, export it 30 times (some downloads abandoned halfway), import a CSV, edit and preview a
template, turn a workflow on, watch its message reach the outbox, delete the tag the workflow uses.
While the bulk tagging, the refresh and the import run, the sales person also tags and untags a
profile in another tab a few times a second, so writers meet.

After every step, and over the whole day at its end: no response was a 5xx, every page, download and
call took under a second (in the server and in the browser, sign-in included), nothing logged an error
or "database is locked", no PostgreSQL backend of the app is left "idle in transaction", and on SQLite
no request waited for the write lock for more than a second. Those are gathered over the whole day and
reported together with the day's figures (the slowest pages, the longest waits for the write lock, the
machine's load); a step whose outcome never shows ends the day there.
"""

from __future__ import annotations

import csv
import gc
import http.client
import io
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from crm_segments import create_app
from crm_segments.cli.admin import init_database
from crm_segments.cli.context import unit_of_work
from crm_segments.cli.server import prepare_first_pages, settle_memory, warm_near_real_time, warm_templates
from crm_segments.db import write_gate
from crm_segments.demo.seed import seed_demo
from crm_segments.kernel.sqlite_writers import waited_in_this_thread
from crm_segments.models import Profile
from crm_segments.scheduler.runner import SchedulerRunner
from crm_segments.schemas.tags import TagIn
from crm_segments.state import get_state
from crm_segments.tagging import management
from crm_segments.workflows import editing
from tests.browser.conftest import ADMIN, CHROMIUM_ARGS, SALES, Account, add_accounts, sign_in
from tests.browser.soak import (
    LOCK_BUDGET,
    PAGE_BUDGET,
    BrowserTiming,
    Exchange,
    Journal,
    LockProbe,
    LockWait,
    LogWatch,
    RecordingMiddleware,
    idle_in_transaction,
)
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
DEMO_PROFILES = 300
EXPORTS = 30
RAW_AGENT = "soak-http-client"
PAGE_TYPES = ("document", "fetch", "xhr")  # what a person waits for in the browser

ACTION_TIMEOUT_MS = 10_000  # a click or a page that takes this long has hung
OUTCOME_TIMEOUT_MS = 20_000  # long work (a refresh, an import) may show progress first
OUTBOX_TIMEOUT = 90.0  # seconds: enrollment and advance run every 15 s, dispatch every 5 s

CALL_TAG = "Called back"
WORKFLOW_NAME = "Thank you for the call"
TEMPLATE_KEY = "evergreen/welcome"
SUBJECT = "Thanks for your call, {{ profile.greeting_name }}!"
SEGMENT_NAME = "Soak customers"
IMPORTED = {"external_id": "SOAK-0001", "first_name": "Sunny", "last_name": "Callaway",
            "email": "sunny.callaway@example.com", "lifecycle_status": "lead", "email_consent": "true",
            "time_zone": "UTC"}


# --- the app as `crm-segments run` serves it ----------------------------------------------------------

@dataclass
class ServedApp:
    url: str
    store: str
    app: Flask
    journal: Journal
    log: LogWatch
    probe: LockProbe | None
    checker: Engine | None  # PostgreSQL: a connection of the test's own, to read pg_stat_activity
    searched: Profile  # a demo profile the sales person looks up


@contextmanager
def database(store: str, folder: Path) -> Iterator[str]:
    if store == "sqlite":
        yield f"sqlite:///{folder / 'crm.db'}"
        return
    reason = postgres_reachable()
    if reason:
        skip_or_fail(reason)
    with private_postgres_database() as url:
        yield url


def prepare(app: Flask) -> Profile:
    """What `run` does before serving (migrate, shipped defaults, demo data), plus the day's two users,
    the tag a draft workflow is triggered by, and that workflow (the admin turns it on)."""
    init_database(app)
    seed_demo(app, profiles=DEMO_PROFILES, seed=1)
    with unit_of_work(app) as session:
        admin_id = add_accounts(session, ADMIN, SALES)[0].id
        called_back = TagIn(name=CALL_TAG, description="Asked to be called back")
        management.create_tag(session=session, data=called_back, user_id=admin_id)
        session.flush()
        editing.create_workflow(session=session, user_id=admin_id, data={
            "name": WORKFLOW_NAME, "description": "A thank-you email once a call-back is done.",
            "trigger": {"type": "tag_added", "tag": CALL_TAG},
            "steps": [{"key": "thanks", "type": "send_email", "template": TEMPLATE_KEY,
                       "category": "transactional"}],
            "reentry": {"policy": "once"},
        })
        searched = session.scalars(select(Profile).where(Profile.last_name.is_not(None))
                                   .order_by(Profile.id).limit(1)).one()
        session.expunge(searched)
    return searched


@pytest.fixture(params=STORES)
def served(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
           chromium_path: str) -> Iterator[ServedApp]:
    from waitress.server import create_server

    store = str(request.param)
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    with database(store, tmp_path) as url:
        app = create_app({"CRM_SEGMENTS_DATABASE_URL": url, "SECRET_KEY": "soak-secret-key-0123456789",
                          "CRM_SEGMENTS_OUTBOX_DIR": str(tmp_path / "outbox")})
        engine = get_state(app).engine
        searched = prepare(app)
        prepare_first_pages(app)  # then, as `run` does before it serves
        warm_templates(app)
        warm_near_real_time(app)
        settle_memory()
        journal = Journal()
        probe = LockProbe(engine, journal) if engine.dialect.name == "sqlite" else None
        gate = write_gate(engine)
        if gate is not None:
            gate.forget_longest()  # the day's waits only, not the preparation's
        checker = create_engine(url, poolclass=NullPool) if store == "postgresql" else None
        lock_waited = (lambda: waited_in_this_thread() + probe.waited_in_this_thread()) if probe else None
        server = create_server(RecordingMiddleware(app, journal, lock_waited), host="127.0.0.1", port=0,
                               threads=8)
        serving = threading.Thread(target=server.run, name="waitress", daemon=True)
        serving.start()
        runner = SchedulerRunner(app)
        log = LogWatch(journal).__enter__()
        runner.start_in_background()
        try:
            yield ServedApp(f"http://127.0.0.1:{server.effective_port}", store, app, journal, log, probe,
                            checker, searched)
        finally:
            runner.stop()
            log.__exit__()
            server.task_dispatcher.shutdown()
            server.close()
            for channel in list(server._map.values()):
                channel.close()
            serving.join(timeout=10)
            if probe is not None:
                probe.remove()
            if checker is not None:
                checker.dispose()
            engine.dispose()
            gc.unfreeze()  # what settle_memory froze: this test run's objects too


# --- the day's bookkeeping ---------------------------------------------------------------------------

@dataclass
class Day:
    served: ServedApp
    problems: list[str] = field(default_factory=list)
    timings: list[tuple[str, float]] = field(default_factory=list)
    pages: dict[str, Any] = field(default_factory=dict)  # who: their browser tab

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.served.journal.step = name
        started = time.monotonic()
        try:
            yield
        except BaseException as exc:
            self.check(name)
            lines = [line for line in str(exc).splitlines() if line.strip()][:4] or [repr(exc)]
            self.problems.append(f"[{name}] the step did not complete: {type(exc).__name__}: "
                                 + " | ".join(lines) + self.where())
            raise DayEnded(self.report()) from exc
        finally:
            self.timings.append((name, time.monotonic() - started))
        self.check(name)

    def check(self, name: str) -> None:
        """The bounds, over what the step ``name`` caused (and anything running too long now)."""
        served = self.served
        journal = served.journal
        self.judge([e for e in journal.all_exchanges() if e.step == name],
                   [t for t in journal.all_browser_timings() if t.step == name],
                   [(step, text) for step, text in journal.browser_problems if step == name],
                   [(step, text) for step, text in served.log.every() if step == name],
                   [w for w in served.probe.every() if w.step == name] if served.probe else [])
        for exchange in journal.running_too_long():
            self.problems.append(f"[{exchange.step}] slower than {PAGE_BUDGET:g} s: {exchange.describe()}")
        if served.probe is not None:
            for wait in served.probe.waiting_now():
                if wait.in_request:
                    self.problems.append(f"[{name}] waited for the SQLite write lock: {wait.describe()}")
        if served.checker is not None:
            for backend in idle_in_transaction(served.checker):
                self.problems.append(f"[{name}] PostgreSQL {backend}")

    def check_the_whole_day(self) -> None:
        """The bounds again over the whole day once every exchange has ended: one that ran on past its
        step's check (a download, a page's own call) is held to them too."""
        served = self.served
        journal = served.journal
        self.judge(journal.all_exchanges(), journal.all_browser_timings(), list(journal.browser_problems),
                   served.log.every(), served.probe.every() if served.probe else [])

    def judge(self, exchanges: list[Exchange], timings: list[BrowserTiming], seen: list[tuple[str, str]],
              logged: list[tuple[str, str]], waits: list[LockWait]) -> None:
        for e in exchanges:
            if e.status is not None and e.status >= 500:
                self.problems.append(f"[{e.step}] server error: {e.describe()}")
            if e.seconds is not None and e.seconds > PAGE_BUDGET:
                self.problems.append(f"[{e.step}] slower than {PAGE_BUDGET:g} s: {e.describe()}")
            if e.lock_wait > LOCK_BUDGET:
                self.problems.append(f"[{e.step}] waited for the SQLite write lock: {e.describe()}")
        for t in timings:
            if t.seconds > PAGE_BUDGET:
                self.problems.append(f"[{t.step}] the browser saw {t.method} {t.url} ({t.resource}) take "
                                     f"{t.seconds:.2f} s (over {PAGE_BUDGET:g} s)")
        for step, text in seen:
            self.problems.append(f"[{step}] the browser saw {text}")
        for step, text in logged:
            self.problems.append(f"[{step}] logged {text}")
        for w in waits:
            if w.in_request and w.seconds > LOCK_BUDGET:
                self.problems.append(f"[{w.step}] waited for the SQLite write lock: {w.describe()}")
            elif w.error and "locked" in w.error:
                self.problems.append(f"[{w.step}] {w.describe()}")

    def where(self) -> str:
        """Where each person's tab is and the messages it shows, to tell why a step did not complete."""
        seen = []
        for who, page in self.pages.items():
            try:
                alerts = page.get_by_role("alert").all_inner_texts()
                seen.append(f"{who} at {page.url} showing {alerts or 'no message'}")
            except Exception as exc:  # a tab that hangs says so
                seen.append(f"{who}: {type(exc).__name__}")
        return "; " + "; ".join(seen) if seen else ""

    def report(self) -> str:
        unique = list(dict.fromkeys(self.problems))
        return (f"{len(unique)} problem(s) in the day on {self.served.store}:\n  " + "\n  ".join(unique)
                + "\n" + self.figures())

    def figures(self) -> str:
        """The day in numbers: each step's time, the slowest exchanges as the server and the browser
        timed them, and the longest wait for SQLite's write lock."""
        journal = self.served.journal
        steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.timings)
        lines = [f"load average at the end: {load_average()}",
                 f"steps ({sum(s for _, s in self.timings):.0f} s): {steps}", "slowest in the server:"]
        lines += [f"  [{e.step}] {e.describe()}" for e in journal.slowest()]
        lines.append("slowest in the browser:")
        lines += [f"  [{t.step}] {t.method} {t.url} ({t.resource}) {t.seconds:.2f} s"
                  for t in journal.slowest_in_browser()]
        gate = write_gate(get_state(self.served.app).engine)
        if gate is not None:
            lines.append("longest waits of a request for the write lock:")
            lines += [f"  {e.lock_wait:.3f} s [{e.step}] {e.describe()}"
                      for e in journal.longest_lock_waits()] or ["  none"]
            longest = gate.longest
            lines.append(f"longest wait for the write gate by anyone: {longest.seconds:.3f} s by "
                         f"{longest.waiter or '-'} while {longest.holder or '-'} wrote")
            hold = gate.longest_hold
            lines.append(f"longest hold of the write gate: {hold.seconds:.3f} s by {hold.holder or '-'}")
        return "\n".join(lines)


def load_average() -> str:
    """The machine's load (1, 5 and 15 minutes): the figures' context on a shared machine."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


class DayEnded(AssertionError):
    """A step's outcome never showed; the message lists every problem seen up to then."""


def watch(page: Any, served: ServedApp) -> None:
    """File what the browser sees: 5xx responses, and each page's, download's and call's time."""
    def on_response(response: Any) -> None:
        if response.url.startswith(served.url) and response.status >= 500:
            served.journal.browser_problem(f"{response.status} for {response.request.method} {response.url}")

    def on_finished(request: Any) -> None:
        # pages, downloads and the pages' own calls; every request, assets too, is timed server-side
        if not request.url.startswith(served.url) or request.resource_type not in PAGE_TYPES:
            return
        took = request.timing.get("responseEnd", -1)
        served.journal.browser_timing(request.method, request.url, request.resource_type, took / 1000)

    page.on("response", on_response)
    page.on("requestfinished", on_finished)


# --- steps' helpers ----------------------------------------------------------------------------------

def watched_sign_in(browser: Any, served: ServedApp, who: Account) -> Any:
    from playwright.sync_api import expect

    context = browser.new_context(accept_downloads=True)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.set_default_navigation_timeout(ACTION_TIMEOUT_MS)
    page = context.new_page()
    watch(page, served)
    sign_in(page, served.url, who)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return page


def outcome(page: Any, pattern: re.Pattern[str], *, timeout: int = OUTCOME_TIMEOUT_MS) -> None:
    """Wait until the outcome of an action is shown as a message (role alert or status), on the page
    it redirected to or on a progress page that updates itself until the work is done."""
    from playwright.sync_api import expect

    shown = page.get_by_role("alert").or_(page.get_by_role("status")).filter(has_text=pattern)
    expect(shown.first).to_be_visible(timeout=timeout)


def no_failure_shown(page: Any) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_role("alert").filter(has_text=re.compile(r"fail|error|wrong", re.I))).to_have_count(0)


def add_tag_in_editor(page: Any, name: str, *, create: bool) -> None:
    from playwright.sync_api import expect

    editor = page.locator(".tag-editor").first
    editor.get_by_label("Add a tag").fill(name)
    option = (editor.get_by_role("option", name=re.compile("Create")) if create
              else editor.get_by_role("option", name=name, exact=True))
    option.click()
    expect(editor.locator(".tag-list")).to_contain_text(name)
    page.reload()  # saved, not only drawn
    expect(page.locator(".tag-editor").first.locator(".tag-list")).to_contain_text(name)


def session_cookie(page: Any) -> str:
    cookies = page.context.cookies()
    return "; ".join(f"{c['name']}={c['value']}" for c in cookies)


def raw_export(served: ServedApp, path: str, cookie: str) -> tuple[int, str, str, float]:
    """A whole download by a plain HTTP client with the browser's cookie: status, type, body, seconds."""
    host, port = served.url.removeprefix("http://").split(":")
    started = time.monotonic()
    conn = http.client.HTTPConnection(host, int(port), timeout=ACTION_TIMEOUT_MS / 1000)
    try:
        conn.request("GET", path, headers={"Cookie": cookie, "User-Agent": RAW_AGENT})
        response = conn.getresponse()
        body = response.read().decode("utf-8")
        return response.status, response.getheader("Content-Type", ""), body, time.monotonic() - started
    finally:
        conn.close()


def abandoned_export(served: ServedApp, path: str, cookie: str) -> bytes:
    """Start a download, read the status line, the headers and the first bytes, then drop the
    connection (a reset, as when a laptop lid closes) with most of the file unread."""
    host, port = served.url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)  # the server cannot write ahead much
    sock.settimeout(ACTION_TIMEOUT_MS / 1000)
    try:
        sock.connect((host, int(port)))
        sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
                      f"User-Agent: {RAW_AGENT} (abandons)\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head or len(head.partition(b"\r\n\r\n")[2]) < 16:
            chunk = sock.recv(256)
            if not chunk:
                break
            head += chunk
        return head
    finally:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


class TaggingMeanwhile:
    """The sales person tagging and untagging a profile in another tab (the tag editor's own calls: JSON
    with the page's CSRF token) a few times a second while a step runs, so the step's long work meets
    other writers. Every answer is journalled by the server like any other; an answer other than 200 or
    201, a call that fails, or no call at all is one of the day's problems."""

    TAG = "Follow up"
    PACE = 0.3  # seconds between one person's clicks

    def __init__(self, served: ServedApp, problems: list[str], cookie: str, csrf: str,
                 profile_id: int) -> None:
        self.served, self.problems = served, problems
        self.cookie, self.csrf, self.profile_id = cookie, csrf, profile_id
        self.failures: list[str] = []
        self.calls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._click, name="tagging meanwhile", daemon=True)

    def __enter__(self) -> TaggingMeanwhile:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=ACTION_TIMEOUT_MS / 1000)
        if self._thread.is_alive():
            self.failures.append("a tagging call did not end")
        elif not self.calls:
            self.failures.append("no tagging call was made")
        step = self.served.journal.step
        self.problems.extend(f"[{step}] tagging meanwhile: {failure}" for failure in self.failures)

    def _click(self) -> None:
        host, port = self.served.url.removeprefix("http://").split(":")
        adding = True
        while not self._stop.is_set():
            path = f"/tags/entity/profile/{self.profile_id}/{'add' if adding else 'remove'}"
            conn = http.client.HTTPConnection(host, int(port), timeout=ACTION_TIMEOUT_MS / 1000)
            try:
                conn.request("POST", path, body=json.dumps({"name": self.TAG}), headers={
                    "Cookie": self.cookie, "X-CSRFToken": self.csrf, "Content-Type": "application/json",
                    "Accept": "application/json", "User-Agent": f"{RAW_AGENT} (tagging meanwhile)"})
                response = conn.getresponse()
                body = response.read()[:200]
                if response.status not in (200, 201):
                    self.failures.append(f"POST {path} -> {response.status} {body!r}")
            except OSError as exc:
                self.failures.append(f"POST {path} failed: {exc!r}")
            finally:
                conn.close()
            self.calls += 1
            adding = not adding
            self._stop.wait(self.PACE)  # a person's pace, not a wait for an outcome


def members_shown(page: Any) -> int:
    subtitle = page.locator(".page-header .subtitle").first.inner_text()
    found = re.search(r"([\d,]+) members", subtitle)
    assert found, f"the segment page shows no member count: {subtitle!r}"
    return int(found.group(1).replace(",", ""))


def imported_csv() -> bytes:
    lines = io.StringIO()
    writer = csv.DictWriter(lines, fieldnames=list(IMPORTED), lineterminator="\n")
    writer.writeheader()
    writer.writerow(IMPORTED)
    for n in range(2, 21):
        writer.writerow({**IMPORTED, "external_id": f"SOAK-{n:04d}", "first_name": f"Guest{n}",
                         "email": f"guest{n}.callaway@example.com"})
    return lines.getvalue().encode()


# --- the day -----------------------------------------------------------------------------------------

def test_a_day_of_work_keeps_every_page_fast_and_every_connection_clean(served: ServedApp,
                                                                         chromium_path: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    day = Day(served)
    url = served.url
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            with day.step("sign in"):
                sales = watched_sign_in(browser, served, SALES)
                admin = watched_sign_in(browser, served, ADMIN)
                day.pages.update(sales=sales, admin=admin)
                expect(sales.get_by_role("heading", name="Home")).to_be_visible()

            searched = served.searched
            with day.step("search profiles"):
                sales.get_by_role("navigation", name="Main").get_by_role("link", name="Profiles").click()
                sales.get_by_role("searchbox", name="Search").fill(searched.last_name or "")
                sales.get_by_role("button", name="Search", exact=True).click()
                expect(sales.locator("#profiles-table").get_by_role("link", name=searched.full_name)
                       .first).to_be_visible()

            with day.step("tag a profile"):
                sales.locator("#profiles-table").get_by_role("link", name=searched.full_name).first.click()
                expect(sales.get_by_role("heading", name=searched.full_name).first).to_be_visible()
                add_tag_in_editor(sales, "Key account", create=True)
                csrf = sales.locator(".tag-editor").first.get_attribute("data-csrf")
                assert csrf, "the tag editor carries no CSRF token"

            def tagging_meanwhile() -> TaggingMeanwhile:
                return TaggingMeanwhile(served, day.problems, session_cookie(sales), csrf or "", searched.id)

            with day.step("bulk tag a selection and undo it"), tagging_meanwhile():
                sales.goto(f"{url}/profiles")
                rows = sales.locator("#profiles-table tbody tr")
                for n in range(3):
                    rows.nth(n).get_by_label("Select this profile").check()
                bar = sales.locator("#bulk-tag-bar")
                expect(bar.locator(".bulk-selected-count")).to_have_text("3")
                bar.get_by_label(re.compile("^Tags")).fill("Spring promo")
                bar.get_by_role("button", name="Add tags").click()
                outcome(sales, re.compile("Added 'Spring promo' to 3 profiles"))
                sales.get_by_role("link", name="Bulk operations and undo").click()
                sales.locator("#operations-table tbody tr", has_text="Spring promo").first \
                    .get_by_role("button", name="Undo").click()
                outcome(sales, re.compile(r"Undid bulk operation"))
                sales.goto(f"{url}/profiles?tag=Spring+promo")
                expect(sales.get_by_text(re.compile("No profiles match"))).to_be_visible()

            with day.step("build and save a segment"), tagging_meanwhile():
                admin.goto(f"{url}/segments/new")
                expect(admin.locator("#preview-count")).to_have_text(re.compile(r"^[1-9][\d,]*$"))
                admin.get_by_label("Name").fill(SEGMENT_NAME)
                admin.get_by_role("button", name="Save and refresh").click()
                outcome(admin, re.compile(r"refreshed", re.I))
                no_failure_shown(admin)
                back = admin.get_by_role("link", name=re.compile(re.escape(SEGMENT_NAME)))
                if not re.search(r"/segments/\d+$", admin.url.split("?")[0]):  # from a progress page
                    back.first.click()
                expect(admin.get_by_role("heading", name=SEGMENT_NAME)).to_be_visible()
                assert members_shown(admin) > 0
                segment_url = admin.url.split("?")[0]
                assert re.search(r"/segments/\d+$", segment_url), segment_url

            with day.step("refresh the segment"), tagging_meanwhile():
                sales.goto(segment_url)
                sales.get_by_role("button", name="Refresh now").click()
                outcome(sales, re.compile(r"refreshed", re.I))
                no_failure_shown(sales)

            with day.step(f"export the segment {EXPORTS} times"):
                sales.goto(segment_url)
                members = members_shown(sales)
                export_path = sales.get_by_role("link", name="Export CSV").get_attribute("href")
                assert export_path and export_path.startswith("/"), export_path
                cookie = session_cookie(sales)
                for n in range(EXPORTS):
                    if n % 10 == 0:  # three in the browser
                        with sales.expect_download() as started:
                            sales.get_by_role("link", name="Export CSV").click()
                        body = Path(started.value.path()).read_text(encoding="utf-8")
                        assert len(body.splitlines()) == members + 1, f"export {n}: {len(body.splitlines())}"
                    elif n % 4 == 3:  # seven abandoned halfway
                        head = abandoned_export(served, export_path, cookie)
                        assert head.startswith(b"HTTP/1.1 200"), f"export {n}: {head[:120]!r}"
                        assert b"text/csv" in head.partition(b"\r\n\r\n")[0], f"export {n}: {head[:300]!r}"
                    else:  # twenty read to the end by a plain client
                        status, kind, body, seconds = raw_export(served, export_path, cookie)
                        assert status == 200, f"export {n}: {status} {body[:200]!r}"
                        assert kind.startswith("text/csv"), f"export {n}: {kind}"
                        assert body.startswith("id,external_id,"), f"export {n}: {body[:80]!r}"
                        assert len(body.splitlines()) == members + 1, f"export {n}: {len(body.splitlines())}"
                        assert seconds < PAGE_BUDGET, f"export {n} took {seconds:.2f} s"
                sales.goto(segment_url)  # the app still answers the people who exported
                expect(sales.get_by_role("heading", name=SEGMENT_NAME)).to_be_visible()

            with day.step("import a CSV"), tagging_meanwhile():
                admin.goto(f"{url}/import")
                admin.get_by_label("Type").select_option("profiles")
                admin.get_by_label("CSV file").set_input_files(
                    {"name": "callbacks.csv", "mimeType": "text/csv", "buffer": imported_csv()})
                admin.get_by_role("button", name="Import").click()
                outcome(admin, re.compile(r"Imported callbacks\.csv"))
                no_failure_shown(admin)
                admin.goto(f"{url}/profiles?q={IMPORTED['last_name']}")
                expect(admin.locator("#profiles-table tbody tr")).to_have_count(20)

            first_name = IMPORTED["first_name"]
            with day.step("edit and preview a template"):
                admin.goto(f"{url}/templates")
                admin.locator("tr", has_text=TEMPLATE_KEY).get_by_role("link").first.click()
                admin.get_by_label("Subject").fill(SUBJECT)
                admin.get_by_role("button", name="Save", exact=True).click()
                outcome(admin, re.compile(f"Saved {re.escape(TEMPLATE_KEY)}"))
                admin.get_by_label(re.compile(r"^Profile")).fill(IMPORTED["email"])
                admin.get_by_role("button", name="Preview", exact=True).click()
                preview = admin.locator("section", has=admin.get_by_role(
                    "heading", name=re.compile(f"Preview for {first_name}")))
                expect(preview).to_contain_text(f"Thanks for your call, {first_name}!")

            with day.step("turn a workflow on"):
                admin.goto(f"{url}/workflows")
                admin.get_by_role("link", name=WORKFLOW_NAME).first.click()
                admin.get_by_role("button", name="Turn on").click()
                outcome(admin, re.compile(f"{WORKFLOW_NAME} is now active"))

            with day.step("tag a profile the workflow is triggered by"):
                sales.goto(f"{url}/profiles?q={IMPORTED['email']}")
                sales.locator("#profiles-table").get_by_role(
                    "link", name=f"{first_name} {IMPORTED['last_name']}").click()
                add_tag_in_editor(sales, CALL_TAG, create=False)
                tagged_at = time.monotonic()

            with day.step("watch the message reach the outbox"):
                row = sales.locator("table tbody tr", has_text=IMPORTED["email"])
                while True:
                    sales.goto(f"{url}/outbox")
                    if row.count():
                        break
                    waited = time.monotonic() - tagged_at
                    assert waited < OUTBOX_TIMEOUT, f"no message in the outbox {waited:.0f} s after tagging"
                    sales.wait_for_timeout(1000)  # poll: the outbox page does not update itself
                expect(row).to_contain_text(f"Thanks for your call, {first_name}!")

            with day.step("delete a tag in use"):
                admin.goto(f"{url}/tags")
                tag_row = admin.locator("#tags-table tbody tr", has_text=CALL_TAG)
                tag_row.get_by_role("link", name="Delete").click()
                # the confirmation names every user of the tag before anything is removed
                expect(admin.locator("main")).to_contain_text(WORKFLOW_NAME)
                pause = admin.get_by_role("button", name=re.compile("pause", re.I))
                delete = admin.get_by_role("button", name=re.compile("^Delete"))
                (pause if pause.count() else delete).first.click()
                expect(admin.get_by_role("alert").first).to_be_visible()
                admin.goto(f"{url}/tags")
                kept = admin.locator("#tags-table tbody tr", has_text=CALL_TAG).count() > 0
                admin.goto(f"{url}/workflows")
                admin.get_by_role("link", name=WORKFLOW_NAME).first.click()
                status = admin.locator("h1 .badge").inner_text()
                assert kept or status != "active", \
                    f"{CALL_TAG!r} is deleted and {WORKFLOW_NAME!r} is still active on it"
        finally:
            browser.close()
    day.check_the_whole_day()
    print(f"\nthe day on {served.store}:\n{day.figures()}")
    assert not day.problems, day.report()


"""Browser tests: a real server on 127.0.0.1 over a migrated SQLite file, driven by Debian's Chromium.

A test signs in with the ``admin_page`` or ``sales_page`` fixture: a page of its own browser context,
1,280 px wide, with axe-core loaded, signed in as ``ADMIN`` or ``SALES`` at ``site_url``. A module with
a server of its own overrides ``site_url`` (and ``admin_account`` or ``sales_account`` when its accounts
differ); ``add_accounts`` makes both accounts in its database. ``sign_in`` is the one way a page signs
in, for tests that set a page up their own way first.

Outside CI a missing Chromium (or Playwright) skips these tests with the reason; under CI
(``CI=true``) it fails them, since ``.ci/run`` installs Chromium first.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from crm_segments import create_app, migrate
from crm_segments.accounts import users
from crm_segments.models import Profile, User
from crm_segments.state import get_state

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "browser-test-password"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000

DEMO_PROFILES = [
    ("Ada", "Lovelace", "ada.lovelace@analytical.example", "Analytical Engines", "North", "customer"),
    ("Alan", "Turing", "alan@bletchley.example", "Bletchley Park", "South", "lead"),
    ("Grace", "Hopper", "grace.hopper@navy.example", "Navy Labs", "East", "prospect"),
    ("Katherine", "Johnson", "kj@nasa.example", "NASA Langley", "West", "customer"),
    ("Edsger", "Dijkstra", "ewd@eindhoven.example", "TU Eindhoven", "North", "churned"),
]


def skip_or_fail_browser(reason: str) -> None:
    """Outside CI a missing browser skips with the reason; under CI it fails the run."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: browser tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not CHROMIUM.exists():
        skip_or_fail_browser(f"{CHROMIUM} is missing; install Debian's chromium package to run browser tests")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_or_fail_browser("playwright is not installed; install the project's [test] extra")
    return str(CHROMIUM)


@dataclass(frozen=True)
class LiveServer:
    url: str
    email: str
    password: str


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    role: str = "admin"
    name: str = "Demo Admin"


ADMIN = Account(ADMIN_EMAIL, ADMIN_PASSWORD)
SALES = Account("sam.sales@example.com", "browser-sales-password", role="sales", name="Sam Sales")


def add_accounts(session: Session, *accounts: Account) -> list[User]:
    """Make the accounts (by default ADMIN and SALES) a test signs in with."""
    return [users.create_user(session=session, email=account.email, password=account.password,
                              role=account.role, name=account.name)
            for account in accounts or (ADMIN, SALES)]


def sign_in(page: Any, url: str, account: Account) -> Any:
    """Sign the page in at the server ``url``; returns the page, on the page the sign-in led to."""
    page.goto(f"{url}/login")
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill(account.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda address: "/login" not in address)
    return page


def _seed(app: object) -> None:
    factory = get_state(app).session_factory  # type: ignore[arg-type]
    with factory() as session, session.begin():
        add_accounts(session, ADMIN, SALES)
        for n, (first, last, email, company, region, lifecycle) in enumerate(DEMO_PROFILES, start=1):
            session.add(Profile(external_id=f"DEMO-{n:04d}", first_name=first, last_name=last,
                                email=email, company=company, region=region, lifecycle_status=lifecycle,
                                country="US"))


@pytest.fixture
def browser(chromium_path: str) -> Iterator[Any]:
    """A Chromium of the test's own, closed after it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _signed_in_page(browser: Any, url: str, account: Account) -> Any:
    context = browser.new_context(viewport=WIDE, accept_downloads=True)
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return sign_in(page, url, account)


@pytest.fixture
def site_url(live_server: LiveServer) -> str:
    """The server the role fixtures sign in at; a module with a server of its own overrides it."""
    return live_server.url


@pytest.fixture
def admin_account() -> Account:
    return ADMIN


@pytest.fixture
def sales_account() -> Account:
    return SALES


@pytest.fixture
def admin_page(browser: Any, site_url: str, admin_account: Account) -> Any:
    """A page signed in as an admin (``admin_account``) at ``site_url``."""
    return _signed_in_page(browser, site_url, admin_account)


@pytest.fixture
def sales_page(browser: Any, site_url: str, sales_account: Account) -> Any:
    """A page signed in as a sales person (``sales_account``) at ``site_url``."""
    return _signed_in_page(browser, site_url, sales_account)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("live")
    database_url = f"sqlite:///{folder / 'crm.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(folder / "instance"))
        migrate.upgrade(database_url)
        app = create_app({"CRM_SEGMENTS_DATABASE_URL": database_url,
                          "SECRET_KEY": "browser-test-secret-key-0123456789"})
    _seed(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)  # port 0: the OS picks a free port
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", ADMIN_EMAIL, ADMIN_PASSWORD)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        get_state(app).engine.dispose()

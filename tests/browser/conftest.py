"""Browser tests: a real server on 127.0.0.1 over a migrated SQLite file, driven by Debian's Chromium.

Outside CI a missing Chromium (or Playwright) skips these tests with the reason; under CI
(``CI=true``) it fails them, since ``.ci/run`` installs Chromium first.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from crm_segments import create_app, migrate
from crm_segments.accounts import users
from crm_segments.models import Profile
from crm_segments.state import get_state

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "browser-test-password"

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


def _seed(app: object) -> None:
    factory = get_state(app).session_factory  # type: ignore[arg-type]
    with factory() as session, session.begin():
        users.create_user(session=session, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, role="admin",
                          name="Demo Admin")
        for n, (first, last, email, company, region, lifecycle) in enumerate(DEMO_PROFILES, start=1):
            session.add(Profile(external_id=f"DEMO-{n:04d}", first_name=first, last_name=last,
                                email=email, company=company, region=region, lifecycle_status=lifecycle,
                                country="US"))


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

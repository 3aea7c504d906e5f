"""A served app (waitress, 8 threads, a real SQLite file or PostgreSQL database) stays responsive while
templates render past their limits: bad previews run in the renderer processes while a sign-in, a
page and a write answer at once, and a sender stuck on one message's render holds no lock a page
needs."""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from crm_segments import create_app
from crm_segments.accounts import users
from crm_segments.db import Base, make_engine, utcnow
from crm_segments.messages.dispatch import DispatchReport, dispatch_due
from crm_segments.messages.outbox import enqueue_message
from crm_segments.models import Message, Profile
from crm_segments.state import get_state
from crm_segments.templates import render_pool
from crm_segments.templates.template_store import template_state
from crm_segments.workflows.template_saving import save_template
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail

PASSWORD = "served-limits-password"
TIME_LIMIT = 1.0
# 10^10 empty iterations: Python needs minutes for them.
NESTED = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
SPIN = "Hello {{ profile.first_name }}\n{% if profile.company == 'Spin Co' %}" + NESTED + "{% endif %}"
QUICK = 1.0  # seconds a sign-in, page or write may take while renders are stopped at the limit
KEY = "transactional/owner_alert"
TOO_SLOW = f"rendering took longer than the limit of {TIME_LIMIT:g} s"


@dataclass
class Served:
    url: str
    app: Flask
    admin_key: str
    profile_id: int

    def api(self, method: str, path: str, **kwargs: object) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        return requests.request(method, f"{self.url}/api/v1{path}", headers=headers, timeout=60,
                                **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('served-limits') / 'crm.db'}"
        return
    reason = postgres_reachable()
    if reason:
        skip_or_fail(reason)
    with private_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def served(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from waitress.server import create_server

    engine = make_engine(database_url)
    Base.metadata.create_all(engine)
    engine.dispose()
    limits = render_pool.current_limits()
    folder = tmp_path_factory.mktemp("served-instance")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(folder))
        app = create_app({"CRM_SEGMENTS_DATABASE_URL": database_url,
                          "SECRET_KEY": "served-secret-key-0123456789",
                          "CRM_SEGMENTS_OUTBOX_DIR": str(folder / "outbox"),
                          "CRM_SEGMENTS_TEMPLATE_TIME_LIMIT": str(TIME_LIMIT),
                          "CRM_SEGMENTS_BACKGROUND_WORKER": False})
    factory = get_state(app).session_factory
    with factory() as session, session.begin():
        users.create_user(session=session, email="ada@example.com", password=PASSWORD, role="admin")
        _, secret = users.create_api_key(session=session, email="ada@example.com", name="admin key")
        profile = Profile(external_id="ann", first_name="Ann", email="ann@example.com", email_consent=True)
        session.add(profile)
        session.flush()
        profile_id = profile.id
    server = create_server(app, host="127.0.0.1", port=0, threads=8)
    serving = threading.Thread(target=server.run, name="waitress", daemon=True)
    serving.start()
    try:
        yield Served(f"http://127.0.0.1:{server.effective_port}", app, secret, profile_id)
    finally:
        server.task_dispatcher.shutdown()
        server.close()
        for channel in list(server._map.values()):
            channel.close()
        serving.join(timeout=10)
        get_state(app).engine.dispose()
        render_pool.configure(limits)


def _signed_in(url: str) -> tuple[requests.Session, float]:
    """A browser signed in as the admin, and the seconds the sign-in took (the form, then posting it)."""
    started = time.monotonic()
    browser = requests.Session()
    form = browser.get(f"{url}/login", timeout=60)
    signed_in = browser.post(f"{url}/login", data={"email": "ada@example.com", "password": PASSWORD,
                                                   "csrf_token": _token(form.text)},
                             allow_redirects=False, timeout=60)
    assert signed_in.status_code == 302, signed_in.text[:500]
    return browser, time.monotonic() - started


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def _editor(browser: requests.Session, url: str, action: str, *, token: str | None = None,
            **fields: str) -> requests.Response:
    """Post the template editor's form with ``action`` (with the page's CSRF token unless given)."""
    token = token or _token(browser.get(f"{url}/templates/{KEY}", timeout=60).text)
    return browser.post(f"{url}/templates/{KEY}", data={"csrf_token": token, "action": action,
                                                        "subject": "Hi", **fields}, timeout=60)


def _editor_errors(answer: requests.Response) -> list[str]:
    assert answer.status_code == 400, answer.text[:500]
    block = answer.text.split('id="template-errors"')[1].split("</div>")[0]
    return [html.unescape(f"{field}: {message}")
            for field, message in re.findall(r"<li><strong>(\w+)</strong>: (.*?)</li>", block, re.S)]


def _api_errors(answer: requests.Response) -> list[str]:
    assert answer.status_code == 422, answer.text[:500]
    return [f"{f['field']}: {f['message']}" for f in answer.json()["error"]["fields"]]


def _when_busy(count: int, *, running: Sequence[Future[Any]]) -> None:
    """Wait until ``count`` renders are under way in the renderer processes."""
    deadline = time.monotonic() + 30
    while render_pool.pool().busy < count:
        assert time.monotonic() < deadline, "the renders did not start"
        assert not all(f.done() for f in running), "the renders ended before they were seen"
        time.sleep(0.01)


def _timed(call: Callable[[], requests.Response]) -> tuple[requests.Response, float]:
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


def test_a_sign_in_a_page_and_a_write_answer_while_bad_templates_render(served: Served) -> None:
    """Six requests that render past the time limit at once (previews and saves, in the editor and the
    API): two renderers take three rounds of the limit, and the server answers everything else."""
    browser, _ = _signed_in(served.url)  # also warms: a process's first requests import more
    preview = f"/templates/{KEY}/preview"
    bad: list[Callable[[], requests.Response]] = [
        lambda: served.api("POST", preview, json={"profile_id": served.profile_id, "text_body": NESTED}),
        lambda: served.api("POST", preview, json={"profile_id": served.profile_id, "text_body": NESTED}),
        lambda: served.api("PUT", f"/templates/{KEY}", json={"subject": "Hi", "text_body": NESTED}),
        lambda: _editor(browser, served.url, "preview", text_body=NESTED),
        lambda: _editor(browser, served.url, "preview", text_body=NESTED),
        lambda: _editor(browser, served.url, "save", text_body=NESTED),
    ]
    with ThreadPoolExecutor(len(bad)) as threads:
        started = time.monotonic()
        running = [threads.submit(call) for call in bad]
        _when_busy(render_pool.current_limits().workers, running=running)
        _, sign_in = _signed_in(served.url)
        page, page_took = _timed(lambda: requests.get(f"{served.url}/login", timeout=60))
        tag, write_took = _timed(lambda: served.api("POST", "/tags", json={"name": "Responsive"}))
        unfinished = sum(not f.done() for f in running)
        answers = [f.result() for f in running]
        all_took = time.monotonic() - started
    assert (page.status_code, tag.status_code) == (200, 201), tag.text
    assert unfinished > 0, "the renders had all ended: nothing was measured against them"
    assert sign_in < QUICK and page_took < QUICK and write_took < QUICK, (sign_in, page_took, write_took)
    stopped = [f"text_body: line 1: {TOO_SLOW}"]
    assert [_api_errors(a) for a in answers[:3]] == [stopped] * 3
    assert [_editor_errors(a) for a in answers[3:]] == [stopped] * 3
    assert all_took >= 3 * TIME_LIMIT  # two renderers, six renders


def test_a_template_page_rendering_past_the_limit_holds_no_write_lock(served: Served) -> None:
    """Saving, previewing and test-sending render before anything is written: while one of them renders
    past the limit, a write from another request answers at once (on SQLite the write lock is free)."""
    factory = get_state(served.app).session_factory
    with factory() as session, session.begin():
        sol = Profile(external_id="sol", first_name="Sol", company="Spin Co", email="sol@example.com")
        session.add_all([sol, Profile(external_id="bo", first_name="Bo", company="Acme")])  # Bo: previewed
        session.flush()
        save_template(session, key=KEY, channel="email", subject="Hi", text_body=SPIN)
        sol_id = sol.id
    browser, _ = _signed_in(served.url)
    token = _token(browser.get(f"{served.url}/templates/{KEY}", timeout=60).text)
    bad: list[Callable[[], requests.Response]] = [
        lambda: _editor(browser, served.url, "save", token=token, text_body=NESTED),
        lambda: _editor(browser, served.url, "preview", token=token, text_body=SPIN, profile=str(sol_id)),
        lambda: _editor(browser, served.url, "test_send", token=token, profile=str(sol_id)),
        lambda: served.api("PUT", f"/templates/{KEY}", json={"subject": "Hi", "text_body": NESTED}),
    ]
    answers, writes = [], []
    with ThreadPoolExecutor(1) as thread:
        for n, call in enumerate(bad):  # one at a time: the write is timed from the start of its render
            running = thread.submit(call)
            _when_busy(1, running=[running])
            name = f"While rendering {n}"
            tag, took = _timed(lambda: served.api("POST", "/tags", json={"name": name}))  # noqa: B023
            assert tag.status_code == 201 and not running.done()
            writes.append(took)
            answers.append(running.result())
    assert max(writes) < QUICK, writes
    assert _editor_errors(answers[0]) == [f"text_body: line 1: {TOO_SLOW}"]
    assert _editor_errors(answers[1]) == _editor_errors(answers[2]) == [f"text_body: line 2: {TOO_SLOW}"]
    assert _api_errors(answers[3]) == [f"text_body: line 1: {TOO_SLOW}"]
    with factory() as session:
        assert session.scalars(select(Message)).all() == []
        assert template_state(session, KEY).source.text_body == SPIN


def test_a_sender_stopped_on_one_render_holds_up_no_page(served: Served) -> None:
    """The scheduler runs in the web process (``crm-segments run``): while it renders a message past
    the limit, a page that writes answers at once, and the next message is sent in the same run."""
    factory = get_state(served.app).session_factory
    now = utcnow()
    with factory() as session, session.begin():
        save_template(session, key="transactional/spin", channel="email",
                      subject="Hi {{ profile.first_name }}", text_body=SPIN)
        ids = []
        for n, company in enumerate(["Spin Co", "Spin Co", "Acme"]):
            profile = Profile(external_id=f"spin-{n}", first_name=f"P{n}", company=company,
                              email=f"p{n}@example.com", email_consent=True)
            session.add(profile)
            session.flush()
            ids.append(enqueue_message(session, dedupe_key=f"spin:{n}", profile_id=profile.id,
                                       channel="email", template="transactional/spin",
                                       category="transactional", now=now).id)
    settings = get_state(served.app).settings
    with ThreadPoolExecutor(1) as sender:
        dispatched: Future[DispatchReport] = sender.submit(dispatch_due, factory, settings=settings, now=now)
        _when_busy(1, running=[dispatched])
        write_started = time.monotonic()
        tag = served.api("POST", "/tags", json={"name": "While sending"})
        write_took = time.monotonic() - write_started
        sending = not dispatched.done()
        report = dispatched.result()
    assert tag.status_code == 201, tag.text
    assert sending and write_took < QUICK, write_took
    assert (report["failed"], report["sent"]) == (2, 1)
    with factory() as session:
        rows = {m.id: m for m in session.scalars(select(Message).where(Message.id.in_(ids)))}
    assert [rows[i].status for i in ids] == ["failed", "failed", "sent"]
    assert rows[ids[0]].status_reason == ("template transactional/spin: text: line 2: rendering took longer "
                                          f"than the limit of {TIME_LIMIT:g} s")

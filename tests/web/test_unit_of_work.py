"""The request's unit of work on real engines (not the test's rolled-back outer transaction): what a
request writes is committed only when it succeeds, a streamed export holds no transaction while the
client reads, and every connection goes back to the pool clean, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Engine, make_url

from crm_segments import create_app
from crm_segments.accounts import users
from crm_segments.db import Base, make_engine, utcnow
from crm_segments.models import BackgroundTask, Profile, Segment, Tag
from crm_segments.segments.members import EXPORT_CHUNK
from crm_segments.segments.refresh import run_refresh
from crm_segments.state import get_state
from crm_segments.tasks import worker
from crm_segments.tasks.worker import TaskWorker, run_pending_tasks
from crm_segments.web import csrf
from crm_segments.web.db import db_session
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail
from tests.signed_in import csrf_token_from, login

PASSWORD = "unit-of-work-password"
PROFILES = EXPORT_CHUNK + 1500  # the export needs more than one chunk


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('uow') / 'crm.db'}"
        return
    reason = postgres_reachable()
    if reason:
        skip_or_fail(reason)
    with private_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    engine = make_engine(database_url)
    Base.metadata.create_all(engine)
    engine.dispose()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path_factory.mktemp("instance")))
        app = create_app({"CRM_SEGMENTS_DATABASE_URL": database_url, "TESTING": True,
                          "SECRET_KEY": "unit-of-work-secret-key-0123456789",
                          "CRM_SEGMENTS_BACKGROUND_WORKER": False})
    _add_test_routes(app)
    factory = get_state(app).session_factory
    with factory() as session, session.begin():
        users.create_user(session=session, email="ada@example.com", password=PASSWORD, role="admin")
        session.execute(insert(Profile), [
            {"external_id": f"P-{n}", "first_name": f"First{n}", "region": "North"} for n in range(PROFILES)])
        session.add(Segment(name="Everyone in the north", kind="live",
                            rule={"field": "region", "op": "eq", "value": "North"}))
    segment_id = _segment_id(app)
    assert run_refresh(factory, segment_id, now=utcnow()).size == PROFILES
    yield app
    get_state(app).engine.dispose()


def _add_test_routes(app: Flask) -> None:
    """Views that write a tag and then end in each way a request can end."""
    def write_tag(name: str) -> None:
        db_session().add(Tag(name=name, name_key=name))
        db_session().flush()

    @app.post("/test/ok/<name>")
    def ok(name: str) -> tuple[str, int]:
        write_tag(name)
        return "written", 201

    @app.post("/test/refused/<name>")
    def refused(name: str) -> tuple[str, int]:
        write_tag(name)
        return "refused", 409

    @app.post("/test/crash/<name>")
    def crash(name: str) -> str:
        write_tag(name)
        raise RuntimeError("the view failed after writing")

    for view in (ok, refused, crash):
        csrf.exempt(view)


def _segment_id(app: Flask) -> int:
    with get_state(app).session_factory() as session:
        return int(session.scalar(select(Segment.id)) or 0)


def _engine(app: Flask) -> Engine:
    return get_state(app).engine


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert login(client, "ada@example.com", PASSWORD).status_code == 302
    return client


def idle_in_transaction(app: Flask) -> int:
    """PostgreSQL backends of the app's database left inside a transaction (0 on SQLite)."""
    engine = _engine(app)
    if engine.dialect.name != "postgresql":
        return 0
    checker = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        with checker.connect() as conn:
            return int(conn.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'")) or 0)
    finally:
        checker.dispose()


def write_lock_is_free(app: Flask) -> bool:
    """On SQLite, can another connection take the write lock at once (no busy wait)?"""
    engine = _engine(app)
    if engine.dialect.name != "sqlite":
        return True
    conn = sqlite3.connect(str(make_url(engine.url).database), timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def _tag_exists(app: Flask, name: str) -> bool:
    with get_state(app).session_factory() as session:
        return bool(session.scalar(select(func.count()).select_from(Tag).where(Tag.name == name)))


def test_a_successful_request_commits_without_the_view_committing(app: Flask, client: FlaskClient) -> None:
    assert client.post("/test/ok/kept").status_code == 201
    assert _tag_exists(app, "kept")
    assert _engine(app).pool.checkedout() == 0


def test_a_refused_request_writes_nothing(app: Flask, client: FlaskClient) -> None:
    assert client.post("/test/refused/dropped").status_code == 409
    assert not _tag_exists(app, "dropped")
    assert _engine(app).pool.checkedout() == 0 and idle_in_transaction(app) == 0


def test_a_crashed_request_writes_nothing_and_returns_its_connection(app: Flask) -> None:
    app.testing = False  # answer 500 as in production instead of raising into the test
    try:
        client = app.test_client()
        assert login(client, "ada@example.com", PASSWORD).status_code == 302
        assert client.post("/test/crash/lost").status_code == 500
    finally:
        app.testing = True
    assert not _tag_exists(app, "lost")
    assert _engine(app).pool.checkedout() == 0 and idle_in_transaction(app) == 0


def test_exports_read_and_abandoned_hold_no_transaction(app: Flask, client: FlaskClient) -> None:
    url = f"/segments/{_segment_id(app)}/export.csv"
    for n in range(20):
        response = client.get(url, buffered=False)
        assert response.status_code == 200
        chunks = iter(response.response)
        first = next(chunks)
        assert first.startswith(b"id,external_id,")
        # The client stops reading here: nothing may be held while it waits.
        assert write_lock_is_free(app), f"export {n}: the write lock is held while the body is read"
        assert idle_in_transaction(app) == 0, f"export {n}: a backend is left idle in transaction"
        if n % 2 == 0:
            rest = b"".join(chunks)  # read to the end
            assert rest.count(b"\r\n") + first.count(b"\r\n") == PROFILES + 1
        response.close()  # an aborted download: the server closes the body
        assert _engine(app).pool.checkedout() == 0
    assert idle_in_transaction(app) == 0 and write_lock_is_free(app)


def test_pages_leave_no_transaction_open(app: Flask, client: FlaskClient) -> None:
    segment_id = _segment_id(app)
    for path in ("/", "/profiles?q=First1", "/segments", f"/segments/{segment_id}", "/tags"):
        assert client.get(path).status_code in (200, 302), path
        assert _engine(app).pool.checkedout() == 0 and idle_in_transaction(app) == 0, path
        assert write_lock_is_free(app), path


def test_a_preview_reads_while_another_process_holds_the_write_lock(app: Flask, client: FlaskClient) -> None:
    """The rule builder previews on every change; a preview is a POST that only reads, so on SQLite it
    must not queue behind (or hold up) a writer."""
    token = csrf_token_from(client.get("/segments/new"))
    holder = None
    engine = _engine(app)
    if engine.dialect.name == "sqlite":
        holder = sqlite3.connect(str(make_url(engine.url).database), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        response = client.post("/segments/preview", headers={"X-CSRFToken": token},
                               json={"rule": {"field": "region", "op": "eq", "value": "North"}})
        waited = time.monotonic() - started
    finally:
        if holder is not None:
            holder.execute("ROLLBACK")
            holder.close()
    assert response.status_code == 200 and response.json["count"] == PROFILES
    assert waited < 5, f"the preview waited {waited:.1f} s for the write lock"
    assert _engine(app).pool.checkedout() == 0 and idle_in_transaction(app) == 0


def test_refresh_now_is_queued_and_its_page_shows_the_outcome(app: Flask, client: FlaskClient) -> None:
    segment_id = _segment_id(app)
    token = csrf_token_from(client.get(f"/segments/{segment_id}"))
    response = client.post(f"/segments/{segment_id}/refresh", data={"csrf_token": token})
    assert response.status_code == 302 and "/tasks/" in response.location
    waiting = client.get(response.location).get_data(as_text=True)
    assert 'data-task-status="queued"' in waiting and 'http-equiv="refresh"' in waiting
    assert "A refresh is queued" in client.get(f"/segments/{segment_id}").get_data(as_text=True)

    assert run_pending_tasks(get_state(app).session_factory, get_state(app).task_kinds) == 1
    done = client.get(response.location).get_data(as_text=True)
    assert 'data-task-status="done"' in done and f"{PROFILES:,} members" in done
    assert 'http-equiv="refresh"' not in done
    assert _engine(app).pool.checkedout() == 0 and idle_in_transaction(app) == 0


def test_the_worker_thread_runs_a_queued_refresh_once_the_request_commits(
        app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "IDLE_SECONDS", 0.2)
    state = get_state(app)
    state.task_worker = TaskWorker(lambda: state.session_factory, state.task_kinds)
    try:
        segment_id = _segment_id(app)
        token = csrf_token_from(client.get(f"/segments/{segment_id}"))
        response = client.post(f"/segments/{segment_id}/refresh", data={"csrf_token": token})
        task_id = int(response.location.rsplit("/", 1)[1])
        deadline = time.monotonic() + 60
        while (status := _task_status(app, task_id)) not in ("done", "failed"):
            assert time.monotonic() < deadline, f"the task is still {status} after 60 s"
            time.sleep(0.05)  # polling a condition with a deadline, not waiting out a race
        assert status == "done"
        assert 'data-task-status="done"' in client.get(response.location).get_data(as_text=True)
        # With nothing left to run the thread ends, holding no connection; the next queue starts it.
        while state.task_worker.running:
            assert time.monotonic() < deadline, "the worker thread is still running with nothing queued"
            time.sleep(0.05)
    finally:
        state.task_worker.stop()
        state.task_worker = None
    assert _engine(app).pool.checkedout() == 0 and idle_in_transaction(app) == 0


def _task_status(app: Flask, task_id: int) -> str:
    with get_state(app).session_factory() as session:
        return str(session.scalar(select(BackgroundTask.status).where(BackgroundTask.id == task_id)))

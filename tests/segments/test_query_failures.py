"""Wherever a failed query segment is shown or kept — the editor's preview, the API's preview and refresh,
the segment's last_error on its page, in the list and in the API, the refresh task's page, the command
line — the user sees the kind of error and where, never the database's text or a value the query read.

Each query here reads a committed profile whose email is a secret; on PostgreSQL the database's own
message would quote it ("invalid input syntax for type integer: ...").
"""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from crm_segments.accounts import users
from crm_segments.cli import context, main
from crm_segments.cli import segments as segments_cli
from crm_segments.models import Segment
from crm_segments.segments.query_errors import failure_message
from crm_segments.state import get_state
from tests.factories import AdminFactory
from tests.segments.query_world import (
    LEAKY_QUERY,
    LEAKY_SHOWN,
    SECRET_EMAIL,
    SECRET_WORD,
    committed_rows,
)
from tests.segments.test_refresh import make_segment
from tests.signed_in import csrf_token_from
from tests.tasks import follow_task
from tests.web.api.conftest import Api

# Words of the databases' own messages for these queries: none may reach the user.
DATABASE_WORDS = ("invalid input syntax", "malformed JSON", SECRET_EMAIL, "secret.value")


def _shows_only_the_kind(text: str, backend: str) -> None:
    text = html.unescape(text)
    assert LEAKY_SHOWN[backend] in text, text[-2000:]
    for word in DATABASE_WORDS:
        assert word not in text, word


@pytest.fixture
def admin_api(client: FlaskClient, session: Session) -> Api:
    user = AdminFactory()
    return Api(client, users.create_api_key(session=session, email=user.email, name="admin key")[1])


def test_the_editors_preview(committed: list[int], admin_client: FlaskClient, backend: str) -> None:
    token = csrf_token_from(admin_client.get("/segments/new"))
    response = admin_client.post("/segments/preview", json={"query_sql": LEAKY_QUERY[backend]},
                                 headers={"X-CSRFToken": token})
    assert response.status_code == 422
    assert response.json["error"]["field"] == "query_sql"
    assert response.json["error"]["message"].startswith(LEAKY_SHOWN[backend])
    _shows_only_the_kind(response.get_data(as_text=True), backend)


def test_the_apis_preview(committed: list[int], admin_api: Api, backend: str) -> None:
    response = admin_api.post("/segments/preview", json={"query_sql": LEAKY_QUERY[backend]})
    assert response.status_code == 422
    assert response.json["error"]["code"] == "query_failed"
    assert response.json["error"]["fields"][0]["message"].startswith(LEAKY_SHOWN[backend])
    _shows_only_the_kind(response.get_data(as_text=True), backend)


def test_the_refresh_task_the_segment_page_and_list(committed: list[int], admin_client: FlaskClient,
                                                    session: Session, backend: str) -> None:
    segment = make_segment(session, name="Leaky", kind="query", rule=None, query_sql=LEAKY_QUERY[backend])
    token = csrf_token_from(admin_client.get(f"/segments/{segment.id}"))

    task_page = follow_task(admin_client, admin_client.post(f"/segments/{segment.id}/refresh",
                                                            data={"csrf_token": token}))

    _shows_only_the_kind(task_page, backend)
    assert "failed and changed nothing" in task_page
    session.expire_all()
    stored = session.scalar(select(Segment.last_error).where(Segment.id == segment.id))
    assert stored is not None and stored.startswith(LEAKY_SHOWN[backend]), stored
    _shows_only_the_kind(stored, backend)
    _shows_only_the_kind(admin_client.get(f"/segments/{segment.id}").get_data(as_text=True), backend)
    _shows_only_the_kind(admin_client.get("/segments").get_data(as_text=True), backend)


def test_the_apis_refresh_and_segment(committed: list[int], admin_api: Api, session: Session,
                                      backend: str) -> None:
    segment = make_segment(session, name="Leaky", kind="query", rule=None, query_sql=LEAKY_QUERY[backend])

    refreshed = admin_api.post(f"/segments/{segment.id}/refresh")

    assert refreshed.status_code == 200 and refreshed.json["ok"] is False
    assert refreshed.json["error"].startswith(LEAKY_SHOWN[backend])
    _shows_only_the_kind(refreshed.get_data(as_text=True), backend)
    shown = admin_api.get(f"/segments/{segment.id}")
    assert shown.json["last_error"] == refreshed.json["error"]
    _shows_only_the_kind(shown.get_data(as_text=True), backend)


def test_the_command_line(engine: Engine, database_url: str, backend: str, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Committed, outside any test transaction: the command has its own connections.
    with engine.begin() as conn:
        segment_id = conn.execute(insert(Segment).returning(Segment.id), {
            "name": "Leaky", "kind": "query", "query_sql": LEAKY_QUERY[backend]}).scalar_one()
    try:
        for name, value in {"DATABASE_URL": database_url, "SECRET_KEY": "k" * 32,
                            "CRM_SEGMENTS_INSTANCE_DIR": str(tmp_path / "instance")}.items():
            monkeypatch.setenv(name, value)
        apps: list[Flask] = []

        def make_app() -> Flask:
            apps.append(context.make_app())
            return apps[-1]

        monkeypatch.setattr(segments_cli, "make_app", make_app)
        with committed_rows(engine):
            result = CliRunner().invoke(main, ["segments", "refresh", "Leaky"])
        for app in apps:
            get_state(app).engine.dispose()  # the command's own pool, which its process would close
        assert result.exit_code == 1, result.output
        assert "Leaky: FAILED: " + LEAKY_SHOWN[backend] in result.output
        _shows_only_the_kind(result.output, backend)
    finally:
        with engine.begin() as conn:
            conn.execute(delete(Segment).where(Segment.id == segment_id))


def test_any_other_database_error_is_described_by_its_kind_only(engine: Engine, backend: str) -> None:
    # What the editor's preview and a refresh show for a failure outside the query's own run.
    statement = ('SELECT CAST(:value AS INTEGER) FROM crm_profiles' if backend == "postgresql"
                 else 'SELECT * FROM "secret_value"')  # no such table: secret_value
    with engine.connect() as conn, pytest.raises(DBAPIError) as caught:
        conn.execute(text(statement), {"value": SECRET_EMAIL} if backend == "postgresql" else {})
    assert "secret" in str(caught.value.orig)  # the database's own text quotes it

    message = failure_message(caught.value)

    assert message == ("invalid text representation (SQLSTATE 22P02)" if backend == "postgresql"
                       else "unknown table"), message
    assert SECRET_WORD not in message
    assert failure_message(ValueError(SECRET_EMAIL)) == \
        "the query could not be run (ValueError); nothing was changed"

"""A host Flask app with its own users, LoginManager and tables mounts the plugin under a prefix: its
signed-in user is the plugin's user through the identity adapter, and `flask crm-segments ...` runs
the plugin's commands against the host's own app.config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, redirect, request
from flask_login import LoginManager, UserMixin, login_user
from sqlalchemy import String, create_engine, inspect, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from werkzeug.wrappers import Response

from crm_segments import CRMSegments
from crm_segments.accounts.identity import Identity
from crm_segments.extension import CONFIG_DEFAULTS
from crm_segments.models import User
from crm_segments.records import read_process
from crm_segments.state import get_state


class HostBase(DeclarativeBase):
    pass


class HostUser(UserMixin, HostBase):  # type: ignore[misc]
    __tablename__ = "host_people"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200))
    is_manager: Mapped[bool]


def host_identity(person: Any) -> Identity | None:
    """The host decides: its managers are the plugin's admins, the others its sales people."""
    if not getattr(person, "is_authenticated", False):
        return None
    return Identity(email=person.email, role="admin" if person.is_manager else "sales", name="Host person")


def make_host(tmp_path: Path) -> Flask:
    url = f"sqlite:///{tmp_path / 'host.db'}"
    engine = create_engine(url)
    HostBase.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([HostUser(id=1, email="boss@host.example", is_manager=True),
                         HostUser(id=2, email="seller@host.example", is_manager=False)])
        session.commit()

    app = Flask("host")
    app.config.update(SECRET_KEY="host-secret-0123456789abcdef", WTF_CSRF_ENABLED=False,
                      CRM_SEGMENTS_DATABASE_URL=url, CRM_SEGMENTS_BACKGROUND_WORKER=False,
                      CRM_SEGMENTS_IDENTITY=host_identity)
    manager = LoginManager(app)
    manager.login_view = "host_login"

    @manager.user_loader
    def load(user_id: str) -> HostUser | None:
        with Session(engine) as session:
            return session.get(HostUser, int(user_id))

    @app.route("/sign-in", methods=["GET", "POST"], endpoint="host_login")
    def host_login() -> Response | str:
        if request.method == "GET":
            return "host sign-in page"
        with Session(engine) as session:
            login_user(session.get(HostUser, int(request.form["id"])))
        return redirect("/")

    CRMSegments(app, url_prefix="/crm")
    app.extensions["host_engine"] = engine
    return app


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CRM_SEGMENTS_INSTANCE_DIR", raising=False)
    app = make_host(tmp_path)
    yield app
    get_state(app).engine.dispose()
    app.extensions["host_engine"].dispose()


def test_init_app_writes_nothing_and_fills_every_setting(host: Flask, tmp_path: Path) -> None:
    assert not (tmp_path / "instance").exists()  # a configured database: no instance folder
    for key in CONFIG_DEFAULTS:
        assert key in host.config, key
        assert f"``{key}``" in (CRMSegments.__doc__ or ""), key
    assert get_state(host).base_url == "http://127.0.0.1:5000/crm"


def test_host_cli_runs_the_commands_on_the_host_app(host: Flask) -> None:
    runner = host.test_cli_runner()
    result = runner.invoke(args=["crm-segments", "init-db"])
    assert result.exit_code == 0, result.output
    tables = set(inspect(get_state(host).engine).get_table_names())
    assert {"crm_profiles", "crm_segments", "host_people"} <= tables  # one database, both sides

    result = runner.invoke(args=["crm-segments", "segments", "refresh"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["crm-segments", "create-user", "--email", "ops@host.example",
                                 "--role", "admin", "--password", "a long enough passphrase 42"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["crm-segments", "list-users"])
    assert "ops@host.example" in result.output


def test_the_host_cli_import_reads_on_a_thread_not_in_a_forked_child(
        host: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A host's CLI process may run threads of its own: a fork would copy their held locks.
    forked: list[bool] = []
    monkeypatch.setattr(read_process, "ReadInChild", lambda *a, **k: forked.append(True))
    assert host.test_cli_runner().invoke(args=["crm-segments", "init-db"]).exit_code == 0
    path = tmp_path / "profiles.csv"
    path.write_text("external_id,email\nP-1,ann@example.com\n")
    result = host.test_cli_runner().invoke(args=["crm-segments", "import", "profiles", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 created" in result.output
    assert forked == []


def test_the_host_sign_in_decides_who_uses_the_plugin(host: Flask) -> None:
    assert host.test_cli_runner().invoke(args=["crm-segments", "init-db"]).exit_code == 0
    client = host.test_client()

    anonymous = client.get("/crm/")
    assert anonymous.status_code == 302 and anonymous.location.startswith("/sign-in")

    client.post("/sign-in", data={"id": "2"})
    assert client.get("/crm/").status_code == 200
    assert client.get("/crm/users").status_code == 403  # a sales person, as the host says

    client.post("/sign-in", data={"id": "1"})
    assert client.get("/crm/users").status_code == 200
    with Session(get_state(host).engine) as session:
        people = {u.email: (u.role, u.name) for u in session.scalars(select(User))}
    assert people == {"boss@host.example": ("admin", "Host person"),
                      "seller@host.example": ("sales", "Host person")}

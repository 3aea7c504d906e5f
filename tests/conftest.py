"""Fixtures: real SQLite and PostgreSQL databases, one outer transaction per test, the app and clients.

Database tests run once per backend. Each backend's schema is built once per run from the models
(tests/test_migrations.py proves the Alembic migrations build exactly that schema); each test then
runs inside a transaction that is rolled back at its end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

import crm_segments.models  # noqa: F401  (fills Base.metadata)
from crm_segments import create_app
from crm_segments.db import Base, make_engine
from crm_segments.segments.query_role import install_query_role
from crm_segments.state import get_state
from crm_segments.wiring import connect_domains
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail
from tests.factories import bind_session

pytest_plugins = ["tests.signed_in"]  # signed-in clients for every test folder

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session", autouse=True)
def _domains_connected() -> None:
    """As CRMSegments.init_app does, for tests that call services on a session without an app."""
    connect_domains()


def _create_schema(url: str) -> None:
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            install_query_role(conn)  # as the migrations do: query segments run as this role
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("db") / "test.db"
    url = f"sqlite:///{path}"
    _create_schema(url)
    yield url


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    reason = postgres_reachable()
    if reason:
        skip_or_fail(reason)
    with private_postgres_database() as url:
        _create_schema(url)
        yield url


@pytest.fixture(scope="session")
def _engines() -> Iterator[dict[str, Engine]]:
    engines: dict[str, Engine] = {}
    yield engines
    for engine in engines.values():
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{backend}_url"))


@pytest.fixture
def engine(database_url: str, _engines: dict[str, Engine]) -> Engine:
    if database_url not in _engines:
        _engines[database_url] = make_engine(database_url)
    return _engines[database_url]


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """An outer transaction that every session of the test joins and that is rolled back."""
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        if outer.is_active:
            outer.rollback()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    return sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as s, bind_session(s):  # tests/factories.py creates rows in it
        yield s


@pytest.fixture
def app(database_url: str, session_factory: sessionmaker[Session], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    config: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-0123456789",
        "CRM_SEGMENTS_DATABASE_URL": database_url,
        "CRM_SEGMENTS_OUTBOX_DIR": str(tmp_path / "outbox"),
        "WTF_CSRF_ENABLED": True,
        # Tests run queued tasks themselves (run_pending_tasks): requests share the test's connection.
        "CRM_SEGMENTS_BACKGROUND_WORKER": False,
    }
    app = create_app(config)
    get_state(app).session_factory = session_factory  # requests join the test's transaction
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()

"""Sign-in on real engines, SQLite and PostgreSQL: passwords are hashed with Argon2id at OWASP's
parameters, a hash made before (Werkzeug's scrypt) still signs in and is replaced, an unknown email
costs a password check as a known one does, and checking a password waits for no writer."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from werkzeug.security import generate_password_hash

from crm_segments import create_app, passwords
from crm_segments.accounts import users
from crm_segments.db import Base, make_engine
from crm_segments.models import User
from crm_segments.state import get_state
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail
from tests.signed_in import login

PASSWORD = "sign-in-password"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sign-in') / 'crm.db'}"
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
                          "SECRET_KEY": "sign-in-secret-key-0123456789",
                          "CRM_SEGMENTS_BACKGROUND_WORKER": False})
    yield app
    get_state(app).engine.dispose()


def add_user(app: Flask, email: str, *, password_hash: str | None = None, active: bool = True) -> None:
    with get_state(app).session_factory() as session, session.begin():
        if password_hash is None:
            users.create_user(session=session, email=email, password=PASSWORD, role="sales")
        else:
            session.add(User(email=email, name="", role="sales", password_hash=password_hash,
                             is_active=active))


def stored_hash(app: Flask, email: str) -> str:
    with get_state(app).session_factory() as session:
        return session.execute(select(User.password_hash).where(User.email == email)).scalar_one()


def test_a_password_is_hashed_with_argon2id_at_owasps_parameters_and_kept(app: Flask) -> None:
    add_user(app, "new@example.com")
    stored = stored_hash(app, "new@example.com")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$"), stored
    assert login(app.test_client(), "new@example.com", PASSWORD).status_code == 302
    assert stored_hash(app, "new@example.com") == stored  # up to date: signing in does not rewrite it


def test_an_older_hash_signs_in_and_is_replaced_by_argon2id(app: Flask) -> None:
    older = generate_password_hash(PASSWORD)  # Werkzeug's scrypt, as passwords were stored before
    assert older.startswith("scrypt:")
    add_user(app, "older@example.com", password_hash=older)
    client = app.test_client()

    assert login(client, "older@example.com", "not-the-password").status_code == 200
    assert stored_hash(app, "older@example.com") == older  # a wrong password changes nothing

    assert login(client, "older@example.com", PASSWORD).status_code == 302
    assert client.get("/profiles").status_code == 200
    replaced = stored_hash(app, "older@example.com")
    assert replaced.startswith("$argon2id$") and passwords.verify_password(replaced, PASSWORD)
    assert login(app.test_client(), "older@example.com", PASSWORD).status_code == 302
    assert get_state(app).engine.pool.checkedout() == 0


def test_an_unknown_or_inactive_email_costs_one_password_check(app: Flask,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    add_user(app, "known@example.com")
    add_user(app, "left@example.com", password_hash=passwords.hash_password(PASSWORD), active=False)
    checks: list[str] = []
    real = passwords.verify_password

    def counted(stored: str, password: str) -> bool:
        checks.append(stored)
        return real(stored, password)

    monkeypatch.setattr(passwords, "verify_password", counted)
    for email in ("known@example.com", "nobody@example.com", "left@example.com"):
        checks.clear()
        assert login(app.test_client(), email, "not-the-password").status_code == 200, email
        assert len(checks) == 1 and checks[0].startswith("$argon2id$"), (email, checks)


def test_checking_a_password_waits_for_no_writer(app: Flask) -> None:
    """A sign-in only reads (unless it replaces an older hash): on SQLite it must neither queue behind
    another writer nor hold the write lock while the password is checked."""
    add_user(app, "busy@example.com")
    client = app.test_client()
    engine = get_state(app).engine
    holder: sqlite3.Connection | None = None
    other = None
    if engine.dialect.name == "sqlite":
        holder = sqlite3.connect(str(make_url(engine.url).database), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process writing
    else:
        other = engine.connect()
        other.execute(text("SELECT id FROM crm_users WHERE email = 'busy@example.com' FOR UPDATE"))
    try:
        started = time.monotonic()
        response = login(client, "busy@example.com", PASSWORD)
        waited = time.monotonic() - started
    finally:
        if holder is not None:
            holder.execute("ROLLBACK")
            holder.close()
        if other is not None:
            other.rollback()
            other.close()
    assert response.status_code == 302
    assert waited < 5, f"the sign-in waited {waited:.1f} s for a writer"

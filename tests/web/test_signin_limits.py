"""Failed sign-ins are limited per account and per address; the right password is refused too once a
limit is used up, an unknown email is counted like a known one, and a successful sign-in costs nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from crm_segments import create_app
from crm_segments.config import ConfigError
from crm_segments.models import User
from crm_segments.state import get_state
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.web.conftest import csrf_token_from

WINDOW = 15 * 60


def make_app(database_url: str, session_factory: sessionmaker[Session], tmp_path: Path,
             **settings: str) -> Flask:
    config: dict[str, Any] = {
        "TESTING": True, "SECRET_KEY": "test-secret-key-0123456789",
        "CRM_SEGMENTS_DATABASE_URL": database_url, "CRM_SEGMENTS_OUTBOX_DIR": str(tmp_path / "outbox"),
        "CRM_SEGMENTS_BACKGROUND_WORKER": False,
        **{f"CRM_SEGMENTS_{name.upper()}": value for name, value in settings.items()},
    }
    app = create_app(config)
    get_state(app).session_factory = session_factory
    return app


@pytest.fixture
def limited_app(database_url: str, session_factory: sessionmaker[Session], tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    return make_app(database_url, session_factory, tmp_path, signin_limit_per_account="3 per 15 minutes",
                    signin_limit_per_address="5 per 15 minutes")


def sign_in(client: FlaskClient, email: str, password: str, address: str = "192.0.2.1") -> TestResponse:
    environ = {"REMOTE_ADDR": address}
    token = csrf_token_from(client.get("/login", environ_base=environ))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token},
                       environ_base=environ)


def assert_refused(response: TestResponse) -> None:
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= WINDOW
    assert "Too many failed sign-ins" in response.get_data(as_text=True)


def test_the_right_password_is_refused_after_the_accounts_failures(limited_app: Flask,
                                                                   sales_user: User) -> None:
    client = limited_app.test_client()
    for _ in range(3):
        assert sign_in(client, sales_user.email, "wrong-password-guess").status_code == 200
    assert_refused(sign_in(client, sales_user.email, DEFAULT_PASSWORD))
    assert client.get("/profiles").status_code == 302  # not signed in
    # Case and spaces make no new account to guess at.
    assert_refused(sign_in(client, " SAM.sales@EXAMPLE.com", DEFAULT_PASSWORD))


def test_the_account_limit_holds_across_addresses(limited_app: Flask, sales_user: User) -> None:
    client = limited_app.test_client()
    for n in range(3):
        assert sign_in(client, sales_user.email, "wrong-password-guess", f"198.51.100.{n}").status_code == 200
    assert_refused(sign_in(client, sales_user.email, DEFAULT_PASSWORD, "203.0.113.9"))


def test_the_address_limit_holds_across_accounts(limited_app: Flask, session: Session) -> None:
    UserFactory(email="fifth@example.com")
    client = limited_app.test_client()
    for n in range(5):
        assert sign_in(client, f"guess{n}@example.com", "wrong-password-guess").status_code == 200
    assert_refused(sign_in(client, "fifth@example.com", DEFAULT_PASSWORD))
    other = sign_in(client, "fifth@example.com", DEFAULT_PASSWORD, "192.0.2.77")
    assert other.status_code == 302  # another address, and the account itself has no failures


def test_an_unknown_email_is_counted_like_a_known_one(limited_app: Flask, sales_user: User) -> None:
    client = limited_app.test_client()
    for _ in range(3):
        assert sign_in(client, "nobody@example.com", "wrong-password-guess").status_code == 200
    assert_refused(sign_in(client, "nobody@example.com", "wrong-password-guess"))


def test_successful_sign_ins_cost_nothing(limited_app: Flask, sales_user: User) -> None:
    client = limited_app.test_client()
    for _ in range(8):
        assert sign_in(client, sales_user.email, DEFAULT_PASSWORD).status_code == 302
    for _ in range(2):
        assert sign_in(client, sales_user.email, "wrong-password-guess").status_code == 200
    assert sign_in(client, sales_user.email, DEFAULT_PASSWORD).status_code == 302


def test_a_limit_set_to_none_is_off(database_url: str, session_factory: sessionmaker[Session],
                                    tmp_path: Path, sales_user: User) -> None:
    app = make_app(database_url, session_factory, tmp_path, signin_limit_per_account="none",
                   signin_limit_per_address="none")
    client = app.test_client()
    for _ in range(12):
        assert sign_in(client, sales_user.email, "wrong-password-guess").status_code == 200
    assert sign_in(client, sales_user.email, DEFAULT_PASSWORD).status_code == 302


@pytest.mark.parametrize(("name", "value", "message"), [
    ("signin_limit_per_account", "lots", "CRM_SEGMENTS_SIGNIN_LIMIT_PER_ACCOUNT"),
    ("rate_limit_storage_uri", "ftp://user:secret@example.com", "'ftp' is not one of"),
])
def test_bad_settings_stop_start_up(database_url: str, session_factory: sessionmaker[Session],
                                    tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        make_app(database_url, session_factory, tmp_path, **{name: value})
    assert "secret" not in str(caught.value)

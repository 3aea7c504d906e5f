"""init-db, create-user and create-api-key against a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, inspect, select

from crm_segments.cli import main
from crm_segments.db import make_engine
from crm_segments.migrate import VERSION_TABLE
from crm_segments.models import ApiKey, User


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    return url


def test_init_db_migrates_and_is_repeatable(database: str) -> None:
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(main, ["init-db"])
        assert result.exit_code == 0, result.output
    engine = make_engine(database)
    assert {VERSION_TABLE, "crm_profiles", "crm_tags"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_create_user_and_api_key(database: str) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["init-db"]).exit_code == 0
    result = runner.invoke(main, ["create-user", "--email", "Sam@Example.com", "--role", "sales",
                                  "--password", "correct horse"])
    assert result.exit_code == 0, result.output
    duplicate = runner.invoke(main, ["create-user", "--email", "sam@example.com", "--role", "admin",
                                     "--password", "correct horse"])
    assert duplicate.exit_code != 0
    assert "email" in duplicate.output

    key = runner.invoke(main, ["create-api-key", "--email", "sam@example.com", "--name", "host crm"])
    assert key.exit_code == 0, key.output
    secret = key.output.strip()
    engine = make_engine(database)
    with engine.connect() as conn:
        user_email, role = conn.execute(select(User.email, User.role)).one()
        stored_hash = conn.scalar(select(ApiKey.key_hash))
    engine.dispose()
    assert (user_email, role) == ("sam@example.com", "sales")
    assert secret not in stored_hash and stored_hash == ApiKey.digest(secret)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--email", "not-an-email", "--role", "admin", "--password", "long enough!"], "email"),
        (["--email", "a@example.com", "--role", "admin", "--password", "short"], "password"),
    ],
)
def test_create_user_refuses_bad_input_naming_the_field(database: str, args: list[str], field: str) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["init-db"]).exit_code == 0
    result = runner.invoke(main, ["create-user", *args])
    assert result.exit_code != 0
    assert field in result.output
    engine = make_engine(database)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(User)) == 0
    engine.dispose()


def test_create_api_key_for_unknown_user_fails(database: str) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["init-db"]).exit_code == 0
    result = runner.invoke(main, ["create-api-key", "--email", "nobody@example.com"])
    assert result.exit_code != 0 and "nobody@example.com" in result.output


def test_bad_database_url_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "oracle://x")
    result = CliRunner().invoke(main, ["init-db"])
    assert result.exit_code != 0 and "DATABASE_URL" in result.output


@pytest.mark.parametrize(("password", "problem"), [
    ("elevenchars", "must be at least 12 characters"),
    ("password1234", "is one of the most common passwords"),
    ("Sunshine2024!", "is one of the most common passwords"),
    ("sam@example.com", "must not be the email address"),
    ("abababababab", "must use at least 5 different characters"),
])
def test_create_user_applies_the_password_policy(database: str, password: str, problem: str) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["init-db"]).exit_code == 0
    result = runner.invoke(main, ["create-user", "--email", "sam@example.com", "--role", "sales",
                                  "--password", password])
    assert result.exit_code != 0
    assert f"password: {problem}" in result.output

"""Account commands on a migrated SQLite file and a migrated PostgreSQL database: deactivate and
reactivate, set and reset passwords (the policy applies, sessions end), end sessions, list and revoke
API keys with their last use."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm_segments import migrate
from crm_segments.accounts import users
from crm_segments.cli import main
from crm_segments.db import make_engine
from crm_segments.models import ApiKey, User
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail

ADMIN, SALES = "ada@example.com", "sam@example.com"
PASSWORD = "long-enough-passphrase"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def migrated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('accounts') / 'cli.db'}"
        migrate.upgrade(url)
        yield url
        return
    reason = postgres_reachable()
    if reason:
        skip_or_fail(reason)
    with private_postgres_database() as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture
def database(migrated: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DATABASE_URL", migrated)
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    engine = make_engine(migrated)
    with Session(engine) as session, session.begin():
        for email, role in ((ADMIN, "admin"), (SALES, "sales")):
            users.create_user(session=session, email=email, role=role, password=PASSWORD)
    engine.dispose()
    yield migrated
    engine = make_engine(migrated)
    with engine.begin() as conn:
        conn.execute(ApiKey.__table__.delete())
        conn.execute(User.__table__.delete())
    engine.dispose()


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def user_row(url: str, email: str) -> tuple[bool, int, str]:
    engine = make_engine(url)
    with engine.connect() as conn:
        row = conn.execute(select(User.is_active, User.session_version, User.password_hash)
                           .where(User.email == email)).one()
    engine.dispose()
    return row.is_active, row.session_version, row.password_hash


def test_deactivate_and_reactivate(database: str) -> None:
    result = run("deactivate-user", "--email", "SAM@example.com")
    assert result.exit_code == 0, result.output
    active, version, _ = user_row(database, SALES)
    assert not active and version == 1
    assert "sam@example.com\tsales\tdeactivated" in run("list-users").output

    assert run("activate-user", "--email", SALES).exit_code == 0
    assert user_row(database, SALES)[0]


def test_the_last_active_admin_stays(database: str) -> None:
    result = run("deactivate-user", "--email", ADMIN)
    assert result.exit_code != 0
    assert "only active admin" in result.output
    assert user_row(database, ADMIN)[0]


def test_set_password_applies_the_policy_and_ends_sessions(database: str) -> None:
    _, version, old_hash = user_row(database, SALES)
    for weak in ("short", "Password1234!", "sam@example.com"):
        refused = run("set-password", "--email", SALES, "--password", weak)
        assert refused.exit_code != 0 and "password" in refused.output
    assert user_row(database, SALES)[2] == old_hash

    typed = run("set-password", "--email", SALES, input="another-good-passphrase\nanother-good-passphrase\n")
    assert typed.exit_code == 0, typed.output
    _, new_version, new_hash = user_row(database, SALES)
    assert new_hash != old_hash and new_version == version + 1

    generated = run("set-password", "--email", SALES, "--generate")
    assert generated.exit_code == 0
    password = generated.output.strip()
    assert len(password) >= 24
    assert User(password_hash=user_row(database, SALES)[2]).check_password(password)


def test_end_sessions_and_unknown_users(database: str) -> None:
    assert run("end-sessions", "--email", ADMIN).exit_code == 0
    assert user_row(database, ADMIN)[1] == 1
    unknown = run("end-sessions", "--email", "nobody@example.com")
    assert unknown.exit_code != 0 and "no user" in unknown.output


def test_list_and_revoke_api_keys(database: str) -> None:
    engine = make_engine(database)
    with Session(engine) as session, session.begin():
        _, secret = users.create_api_key(session=session, email=SALES, name="host crm")
    prefix = secret.partition(".")[0]
    used = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(update(ApiKey).values(last_used_at=used))

    listed = run("list-api-keys", "--email", SALES).output
    assert f"{prefix}\tsam@example.com\thost crm" in listed
    assert "last used 2026-12-01 09:30 UTC\tin use" in listed
    assert secret not in listed

    assert run("revoke-api-key", prefix).output.strip() == f"API key {prefix} revoked."
    assert run("revoke-api-key", prefix).output.strip() == f"API key {prefix} was revoked already."
    with engine.connect() as conn:
        assert conn.scalar(select(ApiKey.revoked_at)) is not None
    engine.dispose()
    assert "\trevoked " in run("list-api-keys").output
    missing = run("revoke-api-key", "crm_000000000000")
    assert missing.exit_code != 0 and "no API key" in missing.output

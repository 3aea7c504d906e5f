"""Real test databases: a SQLite file and a private PostgreSQL database per test run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# A test of one store's own behaviour: parametrized over that store only, never skipped on the other.
ON_POSTGRESQL = pytest.mark.parametrize(
    "backend", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
ON_SQLITE = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def postgres_admin_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL", DEFAULT_PG_URL)
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def skip_or_fail(reason: str) -> None:
    """Outside CI a missing PostgreSQL skips with the reason; under CI it fails the run."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)", pytrace=False)
    pytest.skip(reason)


def postgres_reachable() -> str | None:
    """None when PostgreSQL answers, else why not."""
    url = postgres_admin_url()
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        return (f"PostgreSQL is not reachable at {make_url(url).render_as_string()} ({reason}); "
                "set TEST_DATABASE_URL to run these tests")
    finally:
        engine.dispose()
    return None


@contextmanager
def private_postgres_database() -> Iterator[str]:
    """A fresh database for this run, so concurrent runs never see each other's tables."""
    admin_url = postgres_admin_url()
    name = f"crm_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def rows_written(session: Session, table: str) -> int:
    """Rows the session's PostgreSQL transaction has inserted into or updated in ``table`` so far."""
    return int(session.scalar(text(
        "SELECT n_tup_ins + n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = :table"),
        {"table": table}) or 0)

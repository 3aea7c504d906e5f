"""The consent history migration keeps the rows already there, allows the new sources and columns, and
its downgrade puts the table back as it was (SQLite copies the table, PostgreSQL alters it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from crm_segments import migrate
from crm_segments.db import make_engine
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail

REVISION = "b35c253633b5"
INSERT = ("INSERT INTO crm_consent_changes (profile_id, channel, old_value, new_value, source, detail, "
          "changed_at{extra}) VALUES (1, 'email', :yes, :no, :source, '', '2030-01-01 00:00:00'{values})")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'consent.db'}"
        return
    if reason := postgres_reachable():
        skip_or_fail(reason)
    with private_postgres_database() as url:
        yield url


def test_upgrade_keeps_rows_and_allows_complaints_and_bounces(database: str) -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config(database))
    before = script.get_revision(REVISION).down_revision
    assert isinstance(before, str)
    migrate.upgrade(database, before)
    engine = make_engine(database)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO crm_profiles (external_id, lifecycle_status, email_consent, "
                              "sms_consent, created_at, updated_at) VALUES ('P-1', 'lead', :no, :no, "
                              "'2030-01-01 00:00:00', '2030-01-01 00:00:00')"), {"no": False})
            conn.execute(text(INSERT.format(extra="", values="")),
                         {"yes": True, "no": False, "source": "webhook"})
        migrate.upgrade(database, REVISION)
        with engine.begin() as conn:
            kept = conn.execute(text("SELECT source, actor FROM crm_consent_changes")).all()
            assert kept == [("webhook", "")]
            for source in ("complaint", "bounce"):
                conn.execute(text(INSERT.format(extra=", actor, previous_source", values=", 'x', 'api'")),
                             {"yes": True, "no": False, "source": source})
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text(INSERT.format(extra=", actor", values=", 'x'")),
                         {"yes": True, "no": False, "source": "carrier pigeon"})
        migrate.downgrade(database, before)
        with engine.begin() as conn:
            assert conn.execute(text("SELECT source FROM crm_consent_changes")).scalars().all() == ["webhook"]
    finally:
        engine.dispose()

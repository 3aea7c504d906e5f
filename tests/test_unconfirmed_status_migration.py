"""The unconfirmed-status migration only loosens crm_messages' status check: every message and every row
that refers to one (delivery events) is kept, on SQLite too; its downgrade makes unconfirmed messages
unknown again and refuses the status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from crm_segments import migrate
from crm_segments.db import make_engine
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail

REVISION = "1ca668684291"
T = "'2030-01-01 00:00:00'"
PROFILE = ("INSERT INTO crm_profiles (external_id, lifecycle_status, email_consent, sms_consent, created_at, "
           f"updated_at) VALUES ('P-1', 'lead', :no, :no, {T}, {T})")
MESSAGE = ("INSERT INTO crm_messages (dedupe_key, profile_id, channel, category, template_key, context, "
           "text_body, status, attempts, next_attempt_at, created_at, updated_at) VALUES ('k', 1, 'email', "
           f"'marketing', 't', '{{}}', '', 'unknown', 1, {T}, {T}, {T})")
EVENT = ("INSERT INTO crm_message_events (provider, provider_event_id, message_id, event, detail, "
         "occurred_at, received_at, payload) VALUES ('sendgrid', 'e1', 1, 'processed', '', "
         f"{T}, {T}, '{{}}')")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'messages.db'}"
        return
    if reason := postgres_reachable():
        skip_or_fail(reason)
    with private_postgres_database() as url:
        yield url


def _set_status(engine: Engine, status: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE crm_messages SET status = :status"), {"status": status})


def test_upgrade_allows_unconfirmed_and_keeps_messages_and_their_events(database: str) -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config(database))
    before = script.get_revision(REVISION).down_revision
    assert isinstance(before, str)
    migrate.upgrade(database, before)
    engine = make_engine(database)
    try:
        with engine.begin() as conn:
            conn.execute(text(PROFILE), {"no": False})
            conn.execute(text(MESSAGE))
            conn.execute(text(EVENT))
        with pytest.raises(IntegrityError):
            _set_status(engine, "unconfirmed")
        engine.dispose()

        migrate.upgrade(database, REVISION)
        _set_status(engine, "unconfirmed")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT status FROM crm_messages")).scalars().all() == ["unconfirmed"]
            assert conn.execute(text("SELECT message_id FROM crm_message_events")).scalars().all() == [1]
        with pytest.raises(IntegrityError):
            _set_status(engine, "lost at sea")
        engine.dispose()

        migrate.downgrade(database, before)
        with engine.begin() as conn:
            assert conn.execute(text("SELECT status FROM crm_messages")).scalars().all() == ["unknown"]
            assert conn.execute(text("SELECT count(*) FROM crm_message_events")).scalar_one() == 1
        with pytest.raises(IntegrityError):
            _set_status(engine, "unconfirmed")
    finally:
        engine.dispose()

"""crm-segments send-due: one dispatch pass from the command line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

import crm_segments.models  # noqa: F401  (fills Base.metadata)
from crm_segments.cli import main
from crm_segments.db import Base, make_engine, make_session_factory
from crm_segments.models import Message, Profile


def test_send_due_sends_to_the_local_outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    with make_session_factory(engine)() as session, session.begin():
        profile = Profile(external_id="P-1", first_name="Ann", email="ann@example.com", email_consent=True)
        session.add(profile)
        session.flush()
        session.add(Message(dedupe_key="cli:1", profile_id=profile.id, channel="email", category="marketing",
                            template_key="evergreen/welcome", context={},
                            next_attempt_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
    engine.dispose()
    for name, value in {"DATABASE_URL": url, "SECRET_KEY": "k" * 32, "OUTBOX_DIR": str(tmp_path / "outbox"),
                        "CRM_SEGMENTS_INSTANCE_DIR": str(tmp_path / "instance")}.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["send-due"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "1 due, 0 recovered: 1 sent"
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == ["message-00000001.eml"]
    assert CliRunner().invoke(main, ["send-due"]).output.strip() == "0 due, 0 recovered"

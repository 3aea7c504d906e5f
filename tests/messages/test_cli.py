"""crm-segments send-due: one dispatch pass from the command line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

import crm_segments.models  # noqa: F401  (fills Base.metadata)
from crm_segments.cli import main
from crm_segments.db import Base, make_engine, make_session_factory
from crm_segments.models import ChannelPause, Message, Profile


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


def test_send_due_says_a_channel_is_paused_and_resume_channel_clears_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refusal = "The provided authorization grant is invalid, expired, or revoked"
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
        session.add(ChannelPause(channel="email", provider="sendgrid", error=f"SendGrid 401: {refusal}",
                                 error_code="401", paused_at=dt.datetime.now(dt.UTC)))
    engine.dispose()
    for name, value in {"DATABASE_URL": url, "SECRET_KEY": "k" * 32, "OUTBOX_DIR": str(tmp_path / "outbox"),
                        "CRM_SEGMENTS_INSTANCE_DIR": str(tmp_path / "instance")}.items():
        monkeypatch.setenv(name, value)
    paused = CliRunner().invoke(main, ["send-due"])
    assert paused.exit_code == 0, paused.output
    assert "0 due" in paused.output
    assert "Email is paused since" in paused.output and refusal in paused.output
    assert "1 message wait" in paused.output and "resume-channel email" in paused.output

    resumed = CliRunner().invoke(main, ["resume-channel", "email"])
    assert resumed.exit_code == 0 and "email resumed: 1 queued message" in resumed.output
    sent = CliRunner().invoke(main, ["send-due"])
    assert sent.output.strip() == "1 due, 0 recovered: 1 sent"
    assert CliRunner().invoke(main, ["resume-channel", "fax"]).exit_code == 2

"""The provider libraries' loggers are quiet by default, and no log line carries a credential or an
account id: a full send of an email and an SMS through ``crm-segments send-due`` to the fake
providers (reached through CRM_SEGMENTS_SENDGRID_HOST and CRM_SEGMENTS_TWILIO_API_URL), with every
logger captured at the level the commands log at."""

from __future__ import annotations

import datetime as dt
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import crm_segments.models  # noqa: F401  (fills Base.metadata)
from crm_segments.channels import provider_logs
from crm_segments.channels.base import Outgoing, RetryableError
from crm_segments.channels.twilio import TwilioChannel
from crm_segments.cli import main
from crm_segments.db import Base, make_engine, make_session_factory
from crm_segments.models import Message, Profile
from tests.fakes import FakeSendGrid, FakeTwilio

SENDGRID_KEY = "SG.key-for-the-log-test-0123456789"
TWILIO_SID = "AC" + "5f3e" * 8
TWILIO_TOKEN = "token-for-the-log-test-0123456789"


class Captured(logging.Handler):
    """Every record that reaches the root logger's handlers, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[Captured]:
    """The root logger at INFO, as the long-running commands set it (cli/context.py)."""
    root = logging.getLogger()
    handler, level = Captured(), root.level
    levels = {name: logging.getLogger(name).level for name in provider_logs.LEVEL_LOGGERS}
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)


@pytest.fixture
def providers() -> Iterator[tuple[FakeSendGrid, FakeTwilio]]:
    with FakeSendGrid(api_key=SENDGRID_KEY) as sendgrid, \
            FakeTwilio(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN) as twilio:
        yield sendgrid, twilio
    assert sendgrid.spec_errors == [] and twilio.spec_errors == []


def _send_due(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sendgrid: FakeSendGrid, twilio: FakeTwilio,
              **env: str) -> str:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    due = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with make_session_factory(engine)() as session, session.begin():
        profile = Profile(external_id="P-1", first_name="Ann", email="ann@example.com", email_consent=True,
                          phone="+15551230000", sms_consent=True)
        session.add(profile)
        session.flush()
        for channel, template in (("email", "evergreen/welcome"), ("sms", "marketing/win_back_reminder")):
            session.add(Message(dedupe_key=f"log:{channel}", profile_id=profile.id, channel=channel,
                                category="marketing", template_key=template, context={}, next_attempt_at=due))
    engine.dispose()
    settings = {
        "DATABASE_URL": url, "SECRET_KEY": "k" * 32, "CRM_SEGMENTS_INSTANCE_DIR": str(tmp_path / "instance"),
        "SENDGRID_API_KEY": SENDGRID_KEY, "CRM_SEGMENTS_EMAIL_FROM": "Shop <shop@example.com>",
        "CRM_SEGMENTS_SENDGRID_HOST": sendgrid.url, "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "TWILIO_FROM_NUMBER": "+15550000000",
        "CRM_SEGMENTS_TWILIO_API_URL": twilio.url, "CRM_SEGMENTS_SMS_SEND_WINDOW": "none",
        "CRM_SEGMENTS_PROVIDER_LOG_LEVEL": "", **env,
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["send-due"])
    assert result.exit_code == 0, result.output
    assert len(sendgrid.messages) == len(twilio.messages) == 1  # through the configured hosts
    return result.output


def _leaks(lines: list[str]) -> list[str]:
    secrets = (SENDGRID_KEY, TWILIO_SID, TWILIO_TOKEN)
    return [line for line in lines if any(secret in line for secret in secrets)]


def test_a_send_logs_no_provider_chatter_and_no_credential(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, captured: Captured,
        providers: tuple[FakeSendGrid, FakeTwilio]) -> None:
    output = _send_due(tmp_path, monkeypatch, *providers)
    assert "2 sent" in output
    assert [r.name for r in captured.records if r.name.split(".")[0] in provider_logs.LEVEL_LOGGERS] == []
    assert _leaks(captured.lines) == []
    assert _leaks([output]) == []


def test_provider_logs_turned_up_for_debugging_still_mask_credentials(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, captured: Captured,
        providers: tuple[FakeSendGrid, FakeTwilio]) -> None:
    _send_due(tmp_path, monkeypatch, *providers, CRM_SEGMENTS_PROVIDER_LOG_LEVEL="debug")
    text = "\n".join(captured.lines)
    # The libraries do log now: Twilio its request URL, SendGrid's client its headers.
    assert f"/Accounts/{provider_logs.MASK}/Messages.json" in text
    assert f"Bearer {provider_logs.MASK}" in text
    assert _leaks(captured.lines) == []


def test_a_twilio_error_kept_on_the_message_names_no_account_sid() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = TwilioChannel(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN, from_number="+15550000000",
                            api_url=f"http://127.0.0.1:{port}", timeout=2.0)
    with pytest.raises(RetryableError) as refused:
        channel.send(Outgoing(message_id=1, channel="sms", to="+15551230000", text_body="Hi"))
    assert "/Messages.json" in str(refused.value) and TWILIO_SID not in str(refused.value)

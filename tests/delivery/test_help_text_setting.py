"""CRM_SEGMENTS_SMS_HELP_TEXT: the answer to an SMS HELP, from app.config or the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_segments.config import (
    DEFAULT_SMS_HELP_TEXT,
    ConfigError,
    config_from_env,
    messaging_settings_from_config,
)


@pytest.fixture(autouse=True)
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))


def test_help_text_default_configured_off_and_bounded() -> None:
    assert messaging_settings_from_config({}).sms_help_text == DEFAULT_SMS_HELP_TEXT
    own = messaging_settings_from_config({"CRM_SEGMENTS_SMS_HELP_TEXT": "  Acme:\n help at acme.example "})
    assert own.sms_help_text == "Acme: help at acme.example"
    for off in ("none", "off", "NONE"):
        assert messaging_settings_from_config({"CRM_SEGMENTS_SMS_HELP_TEXT": off}).sms_help_text is None
    with pytest.raises(ConfigError, match="CRM_SEGMENTS_SMS_HELP_TEXT"):
        messaging_settings_from_config({"CRM_SEGMENTS_SMS_HELP_TEXT": "x" * 321})


def test_help_text_from_the_environment() -> None:
    env = {"SECRET_KEY": "k" * 32, "DATABASE_URL": "sqlite://",
           "CRM_SEGMENTS_SMS_HELP_TEXT": "Acme: 555-0100"}
    config = config_from_env(env)
    assert messaging_settings_from_config(config).sms_help_text == "Acme: 555-0100"

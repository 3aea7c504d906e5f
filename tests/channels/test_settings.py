"""Messaging settings: the provider follows the keys unless set, and a bad setting is named at start."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from crm_segments.channels import make_channels
from crm_segments.channels.local import LocalOutboxChannel
from crm_segments.channels.sendgrid import SendGridChannel
from crm_segments.channels.twilio import TwilioChannel
from crm_segments.config import (
    ConfigError,
    FrequencyCap,
    SendWindow,
    Settings,
    config_from_env,
    messaging_settings_from_config,
)


@pytest.fixture(autouse=True)
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))


def test_no_keys_means_the_local_outbox_with_safe_defaults() -> None:
    messaging = messaging_settings_from_config({"SECRET_KEY": "k" * 32})
    assert (messaging.email_provider, messaging.sms_provider) == ("local", "local")
    assert messaging.sms_send_window == SendWindow(dt.time(8), dt.time(21))
    assert messaging.email_frequency_cap == FrequencyCap(1, dt.timedelta(days=1))
    assert messaging.signing_key == "k" * 32


def test_provider_keys_from_their_usual_environment_variables_select_the_providers() -> None:
    env = {"SECRET_KEY": "k" * 32, "SENDGRID_API_KEY": "SG.x", "CRM_SEGMENTS_EMAIL_FROM": "a@example.com",
           "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t", "TWILIO_FROM_NUMBER": "+15550000000",
           "CRM_SEGMENTS_SMS_SEND_WINDOW": "09:30-20:00", "CRM_SEGMENTS_EMAIL_FREQUENCY_CAP": "2/7d"}
    messaging = messaging_settings_from_config(config_from_env(env))
    assert (messaging.email_provider, messaging.sms_provider) == ("sendgrid", "twilio")
    assert messaging.sms_send_window == SendWindow(dt.time(9, 30), dt.time(20))
    assert messaging.email_frequency_cap == FrequencyCap(2, dt.timedelta(days=7))
    settings = Settings(database_url="sqlite://", outbox_dir=Path("/tmp/outbox"), messaging=messaging)
    channels = make_channels(settings)
    assert isinstance(channels["email"], SendGridChannel) and isinstance(channels["sms"], TwilioChannel)
    local = make_channels(Settings(database_url="sqlite://", outbox_dir=Path("/tmp/outbox")))
    assert isinstance(local["email"], LocalOutboxChannel) and local["email"] is local["sms"]


@pytest.mark.parametrize(("config", "named"), [
    ({"CRM_SEGMENTS_EMAIL_PROVIDER": "sendgrid"}, "CRM_SEGMENTS_SENDGRID_API_KEY"),
    ({"CRM_SEGMENTS_SENDGRID_API_KEY": "SG.x"}, "CRM_SEGMENTS_EMAIL_FROM"),
    ({"CRM_SEGMENTS_EMAIL_PROVIDER": "mailgun"}, "CRM_SEGMENTS_EMAIL_PROVIDER"),
    ({"CRM_SEGMENTS_TWILIO_ACCOUNT_SID": "AC1"}, "CRM_SEGMENTS_TWILIO_AUTH_TOKEN"),
    ({"CRM_SEGMENTS_TWILIO_ACCOUNT_SID": "AC1", "CRM_SEGMENTS_TWILIO_AUTH_TOKEN": "t"},
     "CRM_SEGMENTS_TWILIO_FROM_NUMBER"),
    ({"CRM_SEGMENTS_SMS_SEND_WINDOW": "8-21"}, "CRM_SEGMENTS_SMS_SEND_WINDOW"),
    ({"CRM_SEGMENTS_EMAIL_FREQUENCY_CAP": "0/1d"}, "CRM_SEGMENTS_EMAIL_FREQUENCY_CAP"),
    ({"CRM_SEGMENTS_DEFAULT_TIME_ZONE": "Mars/Base"}, "CRM_SEGMENTS_DEFAULT_TIME_ZONE"),
    ({"CRM_SEGMENTS_PROVIDER_TIMEOUT": "-1"}, "CRM_SEGMENTS_PROVIDER_TIMEOUT"),
    ({"CRM_SEGMENTS_SEND_THREADS": "0"}, "CRM_SEGMENTS_SEND_THREADS"),
    ({"CRM_SEGMENTS_SEND_THREADS": "many"}, "CRM_SEGMENTS_SEND_THREADS"),
    ({"CRM_SEGMENTS_SEND_THREADS": "65"}, "CRM_SEGMENTS_SEND_THREADS"),
    ({"CRM_SEGMENTS_CLAIM_LEASE": "1"}, "CRM_SEGMENTS_CLAIM_LEASE"),
    ({"CRM_SEGMENTS_CLAIM_LEASE": "soon"}, "CRM_SEGMENTS_CLAIM_LEASE"),
    ({"CRM_SEGMENTS_UNCONFIRMED_AFTER": "a day"}, "CRM_SEGMENTS_UNCONFIRMED_AFTER"),
    ({"CRM_SEGMENTS_UNCONFIRMED_AFTER": "0h"}, "CRM_SEGMENTS_UNCONFIRMED_AFTER"),
    ({"CRM_SEGMENTS_SENDGRID_HOST": "api.sendgrid.com"}, "CRM_SEGMENTS_SENDGRID_HOST"),
])
def test_a_bad_setting_is_named(config: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        messaging_settings_from_config(config)


def test_the_app_refuses_to_start_with_a_bad_messaging_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from crm_segments import create_app

    monkeypatch.setenv("CRM_SEGMENTS_SMS_FREQUENCY_CAP", "lots")
    with pytest.raises(ConfigError, match="CRM_SEGMENTS_SMS_FREQUENCY_CAP"):
        create_app({"SECRET_KEY": "k" * 32})


def test_send_threads_default_and_setting() -> None:
    assert messaging_settings_from_config({}).send_threads == 64
    assert messaging_settings_from_config({"CRM_SEGMENTS_SEND_THREADS": "32"}).send_threads == 32


def test_claim_lease_and_unconfirmed_after_defaults_and_forms() -> None:
    import datetime as dt

    defaults = messaging_settings_from_config({})
    assert (defaults.claim_lease, defaults.unconfirmed_after) == (30.0, dt.timedelta(hours=24))
    for text, seconds in (("90", 90), ("90s", 90), ("30m", 1800), ("2d", 172800), ("1.5h", 5400)):
        chosen = messaging_settings_from_config({"CRM_SEGMENTS_UNCONFIRMED_AFTER": text})
        assert chosen.unconfirmed_after == dt.timedelta(seconds=seconds)

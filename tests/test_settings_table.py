"""Every setting README.md documents is read from the environment (the standalone app) and from a host
app's ``app.config``.

The settings are taken from README.md's own tables (those whose first column is ``variable``), so a
row added there without code that reads it, or without a sample here, fails this test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from crm_segments import create_app
from crm_segments.config import Settings
from crm_segments.extension import CRMSegments
from crm_segments.segments import query_segments
from crm_segments.state import get_state
from crm_segments.templates import render_pool

README = Path(__file__).resolve().parents[1] / "README.md"
HOST_SECRET = "host-secret-key-0123456789"


def documented_settings(text: str) -> list[str]:
    """The names in the first column of every Markdown table headed ``| variable |``."""
    names: list[str] = []
    in_table = False
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if not cells:
            in_table = False
        elif cells[0] == "variable":
            in_table = True
        elif in_table and not set(cells[0]) <= set("-: "):
            names += re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0])
    return names


def config_key(name: str) -> str:
    """The host app's key for a documented variable: ``CRM_SEGMENTS_*`` (Flask's own SECRET_KEY kept)."""
    return name if name == "SECRET_KEY" or name.startswith("CRM_SEGMENTS_") else f"CRM_SEGMENTS_{name}"


AS_GIVEN = object()


@dataclass(frozen=True)
class Sample:
    """A value other than the default, what it should become, and where to read it back."""

    value: str
    read: Callable[[Settings, Flask], Any]
    expected: Any = AS_GIVEN
    # Other settings the sample needs to be valid (documented names), e.g. a key's companion sender.
    with_: dict[str, str] = field(default_factory=dict)


def _messaging(attribute: str) -> Callable[[Settings, Flask], Any]:
    return lambda settings, app: getattr(settings.messaging, attribute)


def _templates(attribute: str) -> Callable[[Settings, Flask], Any]:
    return lambda settings, app: getattr(settings.templates, attribute)


def _settings(attribute: str) -> Callable[[Settings, Flask], Any]:
    return lambda settings, app: getattr(settings, attribute)


SENDGRID = {"SENDGRID_API_KEY": "SG.sample-key", "CRM_SEGMENTS_EMAIL_FROM": "Shop <shop@example.com>"}
TWILIO = {"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "sample-token",
          "TWILIO_FROM_NUMBER": "+15550001111"}


def _samples(tmp: Path) -> dict[str, Sample]:
    import datetime as dt

    from crm_segments.config import FrequencyCap, SendWindow

    return {
        "DATABASE_URL": Sample(f"sqlite:///{tmp}/chosen.db", _settings("database_url")),
        "SECRET_KEY": Sample("chosen-secret-key-0123456789",
                             lambda s, app: (app.config["SECRET_KEY"], s.messaging.signing_key),
                             ("chosen-secret-key-0123456789",) * 2),
        "PUBLIC_URL": Sample("https://crm.example.com", _settings("public_url")),
        "OUTBOX_DIR": Sample(str(tmp / "chosen-outbox"), _settings("outbox_dir"), tmp / "chosen-outbox"),
        "CRM_SEGMENTS_INSTANCE_DIR": Sample(
            str(tmp / "chosen-instance"), lambda s, app: (s.database_url, s.outbox_dir),
            (f"sqlite:///{tmp / 'chosen-instance' / 'crm_segments.db'}", tmp / "chosen-instance" / "outbox")),
        "CRM_SEGMENTS_BACKGROUND_WORKER": Sample(
            "false", lambda s, app: (s.background_worker, get_state(app).task_worker), (False, None)),
        "CRM_SEGMENTS_SCHEDULER_SENDS": Sample("false", _settings("scheduler_sends"), False),
        "CRM_SEGMENTS_RECORDS_READ_ONLY": Sample("true", _settings("records_read_only"), True),
        "CRM_SEGMENTS_NIGHTLY_FULL_REFRESH": Sample("false", _settings("nightly_full_refresh"), False),
        "CRM_SEGMENTS_MAX_UPLOAD_BYTES": Sample("2048", _settings("max_upload_bytes"), 2048),
        "CRM_SEGMENTS_MAX_JSON_BYTES": Sample("4096", _settings("max_json_bytes"), 4096),
        "CRM_SEGMENTS_TAGS_PER_USER_PER_MINUTE": Sample("7", _settings("tags_per_user_per_minute"), 7),
        "CRM_SEGMENTS_TAGS_PER_REQUEST": Sample("9", _settings("tags_per_request"), 9),
        "CRM_SEGMENTS_QUERY_SEGMENT_TIMEOUT": Sample(
            "5", lambda s, app: (s.query_segment_timeout, query_segments.configured_timeout_ms()),
            (5.0, 5000)),
        "CRM_SEGMENTS_TEMPLATE_TIME_LIMIT": Sample("1.5", _templates("time_limit"), 1.5),
        "CRM_SEGMENTS_TEMPLATE_MAX_EMAIL_BYTES": Sample("65536", _templates("max_email_bytes"), 65536),
        "CRM_SEGMENTS_TEMPLATE_MAX_SMS_CHARS": Sample("320", _templates("max_sms_chars"), 320),
        "CRM_SEGMENTS_TEMPLATE_MEMORY_MB": Sample("128", _templates("memory_mb"), 128),
        "CRM_SEGMENTS_TEMPLATE_WORKERS": Sample("3", _templates("workers"), 3),
        "CRM_SEGMENTS_EMAIL_PROVIDER": Sample("sendgrid", _messaging("email_provider"), with_=SENDGRID),
        "CRM_SEGMENTS_SMS_PROVIDER": Sample("twilio", _messaging("sms_provider"), with_=TWILIO),
        "SENDGRID_API_KEY": Sample("SG.sample-key", lambda s, app: (s.messaging.sendgrid_api_key,
                                                                   s.messaging.email_provider),
                                   ("SG.sample-key", "sendgrid"), with_=SENDGRID),
        "CRM_SEGMENTS_EMAIL_FROM": Sample("Shop <shop@example.com>", _messaging("email_from")),
        "SENDGRID_WEBHOOK_PUBLIC_KEY": Sample("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE",
                                              _messaging("sendgrid_webhook_public_key")),
        "TWILIO_ACCOUNT_SID": Sample(TWILIO["TWILIO_ACCOUNT_SID"],
                                     lambda s, app: (s.messaging.twilio_account_sid,
                                                     s.messaging.sms_provider),
                                     (TWILIO["TWILIO_ACCOUNT_SID"], "twilio"), with_=TWILIO),
        "TWILIO_AUTH_TOKEN": Sample("sample-token", _messaging("twilio_auth_token"), with_=TWILIO),
        "TWILIO_FROM_NUMBER": Sample("+15550001111", _messaging("twilio_from_number")),
        "TWILIO_MESSAGING_SERVICE_SID": Sample("MG" + "2" * 32, _messaging("twilio_messaging_service_sid")),
        "CRM_SEGMENTS_SENDGRID_HOST": Sample("https://api.eu.sendgrid.com", _messaging("sendgrid_host")),
        "CRM_SEGMENTS_TWILIO_API_URL": Sample("http://127.0.0.1:8765", _messaging("twilio_api_url")),
        "CRM_SEGMENTS_PROVIDER_LOG_LEVEL": Sample("debug", _messaging("provider_log_level"), "DEBUG"),
        "CRM_SEGMENTS_SMS_SEND_WINDOW": Sample("09:30-20:00", _messaging("sms_send_window"),
                                               SendWindow(dt.time(9, 30), dt.time(20))),
        "CRM_SEGMENTS_EMAIL_SEND_WINDOW": Sample("07:00-22:00", _messaging("email_send_window"),
                                                 SendWindow(dt.time(7), dt.time(22))),
        "CRM_SEGMENTS_EMAIL_FREQUENCY_CAP": Sample("3/7d", _messaging("email_frequency_cap"),
                                                   FrequencyCap(3, dt.timedelta(days=7))),
        "CRM_SEGMENTS_SMS_FREQUENCY_CAP": Sample("none", _messaging("sms_frequency_cap"), None),
        "CRM_SEGMENTS_DEFAULT_TIME_ZONE": Sample("Europe/Paris", _messaging("default_time_zone")),
        "CRM_SEGMENTS_PROVIDER_TIMEOUT": Sample("2.5", _messaging("provider_timeout"), 2.5),
        "CRM_SEGMENTS_SEND_THREADS": Sample("32", _messaging("send_threads"), 32),
        "CRM_SEGMENTS_CLAIM_LEASE": Sample("12", _messaging("claim_lease"), 12.0),
        "CRM_SEGMENTS_UNCONFIRMED_AFTER": Sample("6h", _messaging("unconfirmed_after"),
                                                 dt.timedelta(hours=6)),
        "CRM_SEGMENTS_SMS_HELP_TEXT": Sample("Acme Shop: reply STOP to opt out. Help: +15550001111",
                                             _messaging("sms_help_text")),
        "CRM_SEGMENTS_SIGNIN_LIMIT_PER_ACCOUNT": Sample("5 per 10 minutes",
                                                        lambda s, app: s.accounts.signin_limit_per_account),
        "CRM_SEGMENTS_SIGNIN_LIMIT_PER_ADDRESS": Sample("50 per hour",
                                                        lambda s, app: s.accounts.signin_limit_per_address),
        "CRM_SEGMENTS_RATE_LIMIT_STORAGE_URI": Sample("memory:///sign-in",
                                                      lambda s, app: s.accounts.rate_limit_storage_uri),
    }


def _expected(sample: Sample) -> Any:
    return sample.value if sample.expected is AS_GIVEN else sample.expected


SETTINGS = documented_settings(README.read_text(encoding="utf-8"))
ALL_NAMES = sorted({*SETTINGS, *(config_key(name) for name in SETTINGS)})


def test_the_readme_documents_settings_in_its_tables() -> None:
    assert "DATABASE_URL" in SETTINGS and "CRM_SEGMENTS_SEND_THREADS" in SETTINGS
    assert len(SETTINGS) == len(set(SETTINGS)), "a setting is documented twice"
    # A setting named only in prose would escape the tests below: it needs a row.
    named = set(re.findall(r"`(CRM_SEGMENTS_[A-Z0-9_]+)", README.read_text(encoding="utf-8")))
    assert named - set(SETTINGS) - set(HOST_ONLY) == set()


# Settings only a host app can give (a Python object, not text): described in README's prose, read from
# app.config alone; each still has its default in init_app.
HOST_ONLY = {"CRM_SEGMENTS_IDENTITY": "a callable deciding who is signed in"}


def test_host_only_settings_have_defaults_in_init_app() -> None:
    from crm_segments.extension import CONFIG_DEFAULTS

    assert set(HOST_ONLY) <= set(CONFIG_DEFAULTS)


@pytest.fixture
def sample(request: pytest.FixtureRequest, tmp_path: Path) -> Sample:
    name = request.node.callspec.params["name"]
    samples = _samples(tmp_path)
    if name not in samples:
        pytest.fail(f"README.md documents {name} but tests/test_settings_table.py has no sample for it: "
                    "add one (a value other than the default and where it shows in Settings)")
    return samples[name]


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No documented setting comes from the test runner's own environment; process-wide state that an
    app sets up (render limits, the query-segment timeout, provider log levels) is put back afterwards."""
    import logging

    for name in ALL_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    limits = render_pool.current_limits()
    query_timeout_ms = query_segments.configured_timeout_ms()
    levels = {name: logging.getLogger(name).level for name in ("twilio", "sendgrid", "python_http_client")}
    yield
    render_pool.configure(limits)
    query_segments.configure(query_timeout_ms / 1000)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _settings_of(app: Flask) -> Settings:
    state = get_state(app)
    state.engine.dispose()
    return state.settings


@pytest.mark.parametrize("name", SETTINGS)
def test_a_documented_setting_is_read_from_the_environment(name: str, sample: Sample,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {**sample.with_, name: sample.value}.items():
        monkeypatch.setenv(key, value)
    app = create_app()  # the standalone app: run, serve, scheduler and send-due
    assert sample.read(_settings_of(app), app) == _expected(sample)


@pytest.mark.parametrize("name", SETTINGS)
def test_a_documented_setting_is_read_from_a_host_apps_config(name: str, sample: Sample,
                                                              tmp_path: Path) -> None:
    app = Flask("host")
    app.config["SECRET_KEY"] = HOST_SECRET
    for key, value in {**sample.with_, name: sample.value}.items():
        app.config[config_key(key)] = value
    CRMSegments(app)
    assert sample.read(_settings_of(app), app) == _expected(sample)

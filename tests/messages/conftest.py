"""Fixtures for the messaging tests: fake providers, settings that point at them, profiles to message."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crm_segments.config import MessagingSettings, Settings
from tests.fakes import FakeSendGrid, FakeTwilio
from tests.fakes.webhooks import SendGridSigner

# A Monday, 15:00 UTC: inside the default SMS window in New York (11:00) and London (16:00).
T0 = dt.datetime(2030, 6, 3, 15, 0, tzinfo=dt.UTC)
BASE_URL = "https://crm.example.com"


@pytest.fixture
def fake_sendgrid() -> Iterator[FakeSendGrid]:
    fake = FakeSendGrid()
    with fake:
        yield fake
    assert fake.spec_errors == [], "requests outside SendGrid's OpenAPI definition"


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    with fake:
        yield fake
    assert fake.spec_errors == [], "requests outside Twilio's OpenAPI definition"


@pytest.fixture(scope="session")
def sendgrid_signer() -> SendGridSigner:
    return SendGridSigner()


def provider_settings(tmp_path: Path, *, sendgrid: FakeSendGrid | None = None,
                      twilio: FakeTwilio | None = None, signer: SendGridSigner | None = None,
                      **overrides: Any) -> Settings:
    messaging = MessagingSettings(
        signing_key="test-secret-key-0123456789", email_from="Shop <shop@example.com>",
        email_provider="sendgrid" if sendgrid else "local", sms_provider="twilio" if twilio else "local",
        sendgrid_api_key=sendgrid.api_key if sendgrid else None,
        sendgrid_host=sendgrid.url if sendgrid else "https://api.sendgrid.com",
        sendgrid_webhook_public_key=signer.public_key if signer else None,
        twilio_account_sid=twilio.account_sid if twilio else None,
        twilio_auth_token=twilio.auth_token if twilio else None,
        twilio_from_number="+15550000000" if twilio else None,
        twilio_api_url=twilio.url if twilio else "https://api.twilio.com",
        provider_timeout=2.0,
    )
    messaging = dataclasses.replace(messaging, **overrides)
    return Settings(database_url="sqlite://", outbox_dir=tmp_path / "outbox", public_url=BASE_URL,
                    messaging=messaging)


@pytest.fixture
def settings(tmp_path: Path, fake_sendgrid: FakeSendGrid, fake_twilio: FakeTwilio,
             sendgrid_signer: SendGridSigner) -> Settings:
    return provider_settings(tmp_path, sendgrid=fake_sendgrid, twilio=fake_twilio, signer=sendgrid_signer)

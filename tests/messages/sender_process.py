"""A sender in its own process, so a test can kill it (SIGKILL) in the middle of a provider call.

Usage: python -m tests.messages.sender_process DATABASE_URL SENDGRID_URL API_KEY NOW_ISO
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from crm_segments.config import MessagingSettings, Settings
from crm_segments.db import make_engine, make_session_factory
from crm_segments.messages.dispatch import dispatch_due


def main(database_url: str, sendgrid_url: str, api_key: str, now: str) -> None:
    settings = Settings(database_url=database_url, outbox_dir=Path("/nonexistent"),
                        public_url="https://crm.example.com",
                        messaging=MessagingSettings(signing_key="test-secret-key-0123456789",
                                                    email_provider="sendgrid", sendgrid_api_key=api_key,
                                                    sendgrid_host=sendgrid_url, email_from="shop@example.com",
                                                    provider_timeout=30))
    engine = make_engine(database_url)
    dispatch_due(make_session_factory(engine), settings=settings, now=dt.datetime.fromisoformat(now))
    print("finished")  # never reached when the test kills the process


if __name__ == "__main__":
    main(*sys.argv[1:5])

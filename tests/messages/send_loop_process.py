"""A sender in its own process that sends due messages batch after batch, as the send job does, until it
is killed: the crash tests kill it (SIGKILL) in the middle of a run and start another.

Usage: python -m tests.messages.send_loop_process DATABASE_URL SENDGRID_URL API_KEY THREADS LEASE
       UNCONFIRMED_AFTER BACK_OFF [BATCH] (seconds; BACK_OFF: the first retry's back-off, short for the
       test; BATCH: messages claimed at once, 100 by default)
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

from crm_segments.config import MessagingSettings, Settings
from crm_segments.db import make_engine, make_session_factory
from crm_segments.messages import retry
from crm_segments.messages.dispatch import dispatch_due

BATCH = 100  # claimed at once: a kill leaves claimed messages that were not started


def main(database_url: str, sendgrid_url: str, api_key: str, threads: str, lease: str,
         unconfirmed_after: str, back_off: str, batch: str = str(BATCH)) -> None:
    retry.BASE_DELAY = dt.timedelta(seconds=float(back_off))
    settings = Settings(
        database_url=database_url, outbox_dir=Path("/nonexistent"), public_url="https://crm.example.com",
        messaging=MessagingSettings(
            signing_key="test-secret-key-0123456789", email_provider="sendgrid", sendgrid_api_key=api_key,
            sendgrid_host=sendgrid_url, email_from="shop@example.com", provider_timeout=2.0,
            send_threads=int(threads), claim_lease=float(lease),
            unconfirmed_after=dt.timedelta(seconds=float(unconfirmed_after))))
    factory = make_session_factory(make_engine(database_url))
    while True:
        if not dispatch_due(factory, settings=settings, limit=int(batch), workers=int(threads)).claimed:
            time.sleep(0.05)  # the send job's next look


if __name__ == "__main__":
    main(*sys.argv[1:9])

"""Retries honour the provider: the back-off and Retry-After count from the moment the answer came
back, not from when the batch started. The fake records when it answered and when each request
arrived; a batch long enough for the difference to show proves that no retry comes early."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict

import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.config import Settings
from crm_segments.db import utcnow
from crm_segments.messages import retry
from crm_segments.messages.dispatch import dispatch_due
from tests.fakes import FakeSendGrid, Received

from .helpers import fresh, queue, reachable

pytestmark = pytest.mark.usefixtures("backend")

RETRY_AFTER = 2     # seconds a 429 asks for
BACK_OFF = 1.0      # the first back-off after a 503, set short for the test
LATENCY = 0.15      # seconds each accepted message takes: the batch lasts ~1 s before the faults


def test_no_retry_comes_before_retry_after_or_the_back_off_counted_from_the_answer(
        session: Session, session_factory: sessionmaker[Session], settings: Settings,
        fake_sendgrid: FakeSendGrid, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "BASE_DELAY", dt.timedelta(seconds=BACK_OFF))
    now = utcnow()
    messages = [queue(session, reachable(email=f"r{n}@example.com"), now=now) for n in range(16)]
    session.commit()
    waits: dict[str, float] = {}
    for n in (12, 13):  # answered last in the batch, a second after it started
        fake_sendgrid.fail_address(f"r{n}@example.com", 429, retry_after=RETRY_AFTER)
        waits[f"r{n}@example.com"] = RETRY_AFTER
    for n in (14, 15):
        fake_sendgrid.fail_address(f"r{n}@example.com", 503)
        waits[f"r{n}@example.com"] = BACK_OFF
    fake_sendgrid.latency = LATENCY

    deadline = time.monotonic() + 30
    while len(fake_sendgrid.messages) < len(messages) and time.monotonic() < deadline:
        if not dispatch_due(session_factory, settings=settings, workers=2).claimed:
            time.sleep(0.05)  # the send job's next look

    by_address: dict[str, list[Received]] = defaultdict(list)
    for request in fake_sendgrid.requests:
        by_address[request.json()["personalizations"][0]["to"][0]["email"]].append(request)
    assert {fresh(session, m).status for m in messages} == {"sent"}
    assert all(len(requests) == 1 for address, requests in by_address.items() if address not in waits)
    for address, wait in waits.items():
        refused, retried = by_address[address]
        assert refused.answered_at is not None
        early = (refused.answered_at + dt.timedelta(seconds=wait)) - retried.at
        assert early <= dt.timedelta(0), f"{address}: retried {early.total_seconds():.2f} s early"
        # ...and not long after either: the back-off is not counted twice.
        assert retried.at - refused.answered_at < dt.timedelta(seconds=wait + 3)
    # The faults came late in the batch: counted from its start, the retries would have come early.
    started = min(r.at for r in fake_sendgrid.requests)
    assert min(by_address[a][0].answered_at or started for a in waits) - started > dt.timedelta(seconds=0.5)

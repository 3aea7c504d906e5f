"""Send due messages exactly once, a batch at a time.

(1) One statement claims up to ``limit`` due messages and is committed (claims.py). Then, a part of
``chunk`` messages at a time (pipeline.py): (2) one transaction takes the part's claims, checks
consent, quiet hours and caps (gates.py), renders, and commits ``sending`` (starting.py); (3) the
part is handed to the channels on a few threads, with no transaction open (sending.py); (4) the
answers are written, one transaction for all that have come back (outcomes.py).

A crash between (3) and (4) leaves ``sending``: after the lease it becomes ``unknown`` and is settled by
delivery events instead of being sent again (claims.recover_stalled). A message is marked ``sending``
at most about two parts ahead of its provider call.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from crm_segments.config import Settings
from crm_segments.db import utcnow

from . import claims
from .channels import Channel, make_channels
from .pipeline import Pipeline

CLAIM_LEASE = dt.timedelta(minutes=5)
# Far longer than a provider call can take (timeout 10 s): a row older than this in "sending" has
# lost its sender.
SENDING_LEASE = dt.timedelta(minutes=5)
CHUNK = 64  # messages started per transaction (at least twice the threads)


@dataclass
class DispatchReport:
    claimed: int = 0
    recovered: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # sent, retry, failed, unknown, paused...
    errors: int = 0
    refused: set[str] = field(default_factory=set)  # channels paused because the provider refused the key
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, outcome: str, count: int = 1) -> None:
        with self._lock:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + count

    def merge(self, other: DispatchReport) -> None:
        self.claimed += other.claimed
        self.recovered += other.recovered
        self.errors += other.errors
        self.refused |= other.refused
        for outcome, count in other.outcomes.items():
            self.add(outcome, count)

    def __getitem__(self, outcome: str) -> int:
        return self.outcomes.get(outcome, 0)


def dispatch_due(session_factory: sessionmaker[Session], *, settings: Settings,
                 now: dt.datetime | None = None, limit: int = 500,
                 channels: dict[str, Channel] | None = None, base_url: str | None = None,
                 claim_lease: dt.timedelta = CLAIM_LEASE, sending_lease: dt.timedelta = SENDING_LEASE,
                 workers: int = 1, chunk: int | None = None) -> DispatchReport:
    """Send up to ``limit`` due messages; returns what happened to each.

    ``workers``: provider calls at once (threads that only talk to the provider). ``chunk``: messages
    started per transaction (default: at least ``CHUNK`` and twice ``workers``)."""
    now = now or utcnow()
    channels = channels if channels is not None else make_channels(settings)
    report = DispatchReport(recovered=claims.recover_stalled(session_factory, now=now, lease=sending_lease))
    token, claimed = claims.claim_due(session_factory, now=now, limit=limit, lease=claim_lease)
    report.claimed = len(claimed)
    if claimed:
        pipeline = Pipeline(session_factory, token=token, channels=channels, settings=settings,
                            base_url=base_url or settings.public_url, now=now, tally=report,
                            part_size=chunk or max(CHUNK, 2 * workers))
        unattempted = pipeline.run(claimed, threads=workers)
        report.refused = pipeline.refused
        claims.release(session_factory, token=token, ids=unattempted)
    report.errors = report["error"]
    return report


def dispatch_all(session_factory: sessionmaker[Session], *, settings: Settings,
                 now: dt.datetime | None = None, limit: int = 500, budget: float = 50.0,
                 base_url: str | None = None, workers: int = 1) -> DispatchReport:
    """Dispatch batch after batch until one finds nothing due or ``budget`` seconds have passed (the
    scheduler's send job: a burst goes out as it is queued, not ``limit`` messages per tick)."""
    started = time.monotonic()
    now = now or utcnow()
    report = DispatchReport()
    while True:
        batch = dispatch_due(session_factory, settings=settings, now=now, limit=limit, base_url=base_url,
                             workers=workers)
        report.merge(batch)
        # A channel paused by this batch is not claimed by the next one; the other channel goes on.
        if not batch.claimed or time.monotonic() - started > budget:
            return report
        now = max(now, utcnow())

"""Send due messages exactly once, a batch at a time.

(1) One statement claims up to ``limit`` due messages and is committed (claims.py); the claims are
renewed while the batch runs. Then, in pipeline.py: (2) a part of ``chunk`` messages at a time, one
transaction takes the part's claims, checks consent, quiet hours and caps (gates.py) and stores what
each message will say (starting.prepare); (3) as send threads come free, one short transaction marks as
many messages ``sending`` as there are free threads (starting.mark_sending) and they are handed to the
channels, with no transaction open (sending.py); (4) the answers are written, one transaction for all
that have come back (outcomes.py).

A crash between (3) and (4) leaves at most ``workers`` messages ``sending``: they become ``unknown``
and are settled by delivery events instead of being sent again; the crashed sender's other claimed
messages are sent by the next dispatcher. A registered sender (``sender``: a worker, senders.py) is
taken over as soon as the next dispatcher sees it dead (senders.take_over_dead, before each claim);
any other dispatcher's claims once they run out (CRM_SEGMENTS_CLAIM_LEASE, claims.recover_stalled).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from crm_segments.channels import Channel, make_channels
from crm_segments.config import Settings
from crm_segments.db import utcnow

from . import claims, senders
from .pipeline import Pipeline, RunClock

# Far longer than a provider call can take (timeout 10 s): a row left "sending" without a claim (as
# rows were marked before claims stayed on them) and older than this has lost its sender.
SENDING_LEASE = dt.timedelta(minutes=5)
CHUNK = 64  # messages prepared per transaction (at least twice the threads)


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


def claim_lease(settings: Settings) -> dt.timedelta:
    return dt.timedelta(seconds=settings.messaging.claim_lease)


def dispatch_due(session_factory: sessionmaker[Session], *, settings: Settings,
                 now: dt.datetime | None = None, limit: int = 500,
                 channels: dict[str, Channel] | None = None, base_url: str | None = None,
                 sending_lease: dt.timedelta = SENDING_LEASE,
                 workers: int = 1, chunk: int | None = None, sender: int | None = None) -> DispatchReport:
    """Send up to ``limit`` due messages; returns what happened to each.

    ``now``: when the run starts (the clock runs on from it). ``workers``: provider calls at once
    (threads that only talk to the provider), and so the most messages ``sending`` at once. ``chunk``:
    messages prepared per transaction (default: at least ``CHUNK`` and twice ``workers``). ``sender``:
    the registered sender claiming (its id begins the claim's token)."""
    clock = RunClock(now or utcnow())
    now = clock.start
    channels = channels if channels is not None else make_channels(settings)
    lease = claim_lease(settings)
    report = DispatchReport(recovered=claims.recover_stalled(
        session_factory, now=now, lease=sending_lease,
        unconfirmed_after=settings.messaging.unconfirmed_after))
    taken_over = senders.take_over_dead(session_factory, me=sender)
    report.recovered += taken_over.unknown + taken_over.requeued
    token, claimed = claims.claim_due(session_factory, now=now, limit=limit, lease=lease, sender=sender)
    report.claimed = len(claimed)
    if claimed:
        pipeline = Pipeline(session_factory, token=token, channels=channels, settings=settings,
                            base_url=base_url or settings.public_url, clock=clock, tally=report,
                            part_size=chunk or max(CHUNK, 2 * workers), lease=lease)
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
    clock = RunClock(now or utcnow())
    now = clock.start
    report = DispatchReport()
    while True:
        batch = dispatch_due(session_factory, settings=settings, now=now, limit=limit, base_url=base_url,
                             workers=workers)
        report.merge(batch)
        # A channel paused by this batch is not claimed by the next one; the other channel goes on.
        if not batch.claimed or time.monotonic() - started > budget:
            return report
        now = max(clock(), utcnow())

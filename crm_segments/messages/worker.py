"""The sending loop as a process of its own (``crm-segments worker``), to be started many times.

Workers on any number of machines share one PostgreSQL database: each batch is claimed with one
``FOR UPDATE SKIP LOCKED`` statement (claims.py), so two workers never take the same message. A
worker is a registered sender with a heartbeat (senders.py) while it runs: when one dies, the next
batch of any other (or of its restart) takes over its claims. The scheduler stays the one clock:
its jobs decide what becomes due (workflow steps, retries with back-off, segment refreshes); a worker
only sends what is due, batch after batch while there is any, and looks again every ``poll`` seconds
when there is none. Given ``steps`` (the workflow engine's ``advance_due``, which claims enrollments
the same way) it also runs due workflow steps on a thread of its own.

A stop request (SIGTERM) ends the loop after the batch under way: its messages are sent and their
outcomes written before the process exits.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.db import utcnow
from crm_segments.state import get_state
from crm_segments.templates.rendering import warm_renderers

from .dispatch import DispatchReport, dispatch_due
from .senders import SenderHeartbeat

log = logging.getLogger(__name__)

DEFAULT_POLL = 1.0        # seconds between looks at an empty queue
DEFAULT_BATCH = 500       # messages claimed at once
DEFAULT_LANES = 2         # batches sent at once
WORKFLOW_INTERVAL = 5.0   # seconds between runs of due workflow steps, when there were none
SUMMARY_INTERVAL = 60.0   # seconds between log lines while sending
FAILURE_PAUSE = 5.0       # seconds before trying again after a batch failed as a whole


class StepRunner(Protocol):
    """Runs the workflow steps due at ``now``; returns how many ran."""

    def __call__(self, session_factory: sessionmaker[Session], /, *, now: dt.datetime) -> int: ...


@dataclass
class WorkerStats:
    batches: int = 0
    report: DispatchReport = field(default_factory=DispatchReport)


class SendWorker:
    def __init__(self, app: Flask, *, poll: float = DEFAULT_POLL, batch: int = DEFAULT_BATCH,
                 lanes: int = DEFAULT_LANES, steps: StepRunner | None = None) -> None:
        """``lanes``: batches sent at once, each by a dispatcher thread of its own with its share of the
        send threads. A dispatcher spends most of its time waiting (on the database and the renderers)
        while its send threads wait on the provider; a second one sends while the first waits."""
        self.app = app
        self.poll, self.batch, self.steps = poll, batch, steps
        # The channels keep as many connections to each provider (make_channels), shared by the lanes.
        self.threads = get_state(app).settings.messaging.send_threads
        self.lanes = max(1, min(lanes, self.threads))
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._since = DispatchReport()  # what the next log line sums up
        self._last_summary = time.monotonic()
        self._heartbeat: SenderHeartbeat | None = None

    def request_stop(self) -> None:
        """End the loop after the batch under way (safe from a signal handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run_forever(self, *, on_idle: Callable[[], None] | None = None) -> WorkerStats:
        """Send until asked to stop; ``on_idle`` is called each time a lane finds nothing due."""
        with SenderHeartbeat(get_state(self.app).engine) as self._heartbeat:
            # Registered first (a dead sender's claims are taken over from then on), renderers next.
            warm_renderers()
            try:
                return self._run_lanes(on_idle)
            finally:
                self._heartbeat = None

    def _run_lanes(self, on_idle: Callable[[], None] | None) -> WorkerStats:
        threads = [threading.Thread(target=self._lane, args=(lane, on_idle), name=f"crm-dispatch-{lane}",
                                    daemon=True) for lane in range(1, self.lanes)]
        if self.steps is not None:
            threads.append(threading.Thread(target=self._run_workflows, args=(self.steps,),
                                            name="crm-workflow-steps", daemon=True))
        for thread in threads:
            thread.start()
        try:
            self._lane(0, on_idle)
        finally:
            self._stop.set()
            for thread in threads:
                thread.join()
        return self.stats

    def _lane(self, lane: int, on_idle: Callable[[], None] | None) -> None:
        # The send threads shared out: 64 over 3 lanes is 22, 21 and 21.
        threads = self.threads // self.lanes + (lane < self.threads % self.lanes)
        while not self._stop.is_set():
            try:
                report = self.send_batch(threads=threads)
            except Exception:  # the database went away: try again after a pause, as the scheduler does
                log.exception("sending due messages failed")
                self._stop.wait(max(self.poll, FAILURE_PAUSE))
                continue
            if not report.claimed:
                if on_idle is not None:
                    on_idle()
                self._stop.wait(self.poll)

    def send_batch(self, *, threads: int | None = None) -> DispatchReport:
        """Claim and send one batch of due messages (nothing when none is due)."""
        state = get_state(self.app)
        report = dispatch_due(state.session_factory, settings=state.settings, now=utcnow(), limit=self.batch,
                              base_url=state.base_url, workers=threads or self.threads,
                              sender=self.sender)
        with self._lock:
            if report.claimed:
                self.stats.batches += 1
            self.stats.report.merge(report)
            self._since.merge(report)
            since = self._since
            if since.claimed and (not report.claimed
                                  or time.monotonic() - self._last_summary > SUMMARY_INTERVAL):
                log.info("messages: %s claimed, %s recovered, %s", since.claimed, since.recovered,
                         dict(sorted(since.outcomes.items())))
                self._since, self._last_summary = DispatchReport(), time.monotonic()
        return report

    @property
    def sender(self) -> int | None:
        """This worker's id as a registered sender, while it runs."""
        return self._heartbeat.id if self._heartbeat is not None else None

    def _run_workflows(self, steps: StepRunner) -> None:
        factory = get_state(self.app).session_factory
        while not self._stop.is_set():
            try:
                with self.app.app_context():
                    ran = steps(factory, now=utcnow())
            except Exception:  # a database hiccup must not stop the worker
                log.exception("running due workflow steps failed")
                ran = 0
            if not ran:
                self._stop.wait(WORKFLOW_INTERVAL)

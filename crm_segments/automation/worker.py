"""The sending loop as a process of its own (``crm-segments worker``), to be started many times.

Workers on any number of machines share one PostgreSQL database: each batch is claimed with one
``FOR UPDATE SKIP LOCKED`` statement (claims.py), so two workers never take the same message, and
a worker that dies leaves claims that expire and are taken over. The scheduler stays the one clock:
its jobs decide what becomes due (workflow steps, retries with back-off, segment refreshes); a worker
only sends what is due, batch after batch while there is any, and looks again every ``poll`` seconds
when there is none. With ``workflows`` it also runs due workflow steps on a thread of its own
(``advance_due``, which claims enrollments the same way).

A stop request (SIGTERM) ends the loop after the batch under way: its messages are sent and their
outcomes written before the process exits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask

from crm_segments.db import utcnow
from crm_segments.extension import get_state

from .dispatch import DispatchReport, dispatch_due

log = logging.getLogger(__name__)

DEFAULT_POLL = 1.0        # seconds between looks at an empty queue
DEFAULT_BATCH = 500       # messages claimed at once
WORKFLOW_INTERVAL = 5.0   # seconds between runs of due workflow steps, when there were none
SUMMARY_INTERVAL = 60.0   # seconds between log lines while sending
FAILURE_PAUSE = 5.0       # seconds before trying again after a batch failed as a whole


@dataclass
class WorkerStats:
    batches: int = 0
    report: DispatchReport = field(default_factory=DispatchReport)


class SendWorker:
    def __init__(self, app: Flask, *, poll: float = DEFAULT_POLL, batch: int = DEFAULT_BATCH,
                 workflows: bool = False) -> None:
        self.app = app
        self.poll, self.batch, self.workflows = poll, batch, workflows
        # The channels keep as many connections to each provider (make_channels).
        self.threads = get_state(app).settings.messaging.send_threads
        self.stats = WorkerStats()
        self._stop = threading.Event()

    def request_stop(self) -> None:
        """End the loop after the batch under way (safe from a signal handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run_forever(self, *, on_idle: Callable[[], None] | None = None) -> WorkerStats:
        """Send until asked to stop; ``on_idle`` is called each time the queue is found empty."""
        runner = None
        if self.workflows:
            runner = threading.Thread(target=self._run_workflows, name="crm-workflow-steps", daemon=True)
            runner.start()
        last_summary, since = time.monotonic(), DispatchReport()
        try:
            while not self._stop.is_set():
                try:
                    report = self.send_batch()
                except Exception:  # the database went away: try again after a pause, as the scheduler does
                    log.exception("sending due messages failed")
                    self._stop.wait(max(self.poll, FAILURE_PAUSE))
                    continue
                since.merge(report)
                idle = not report.claimed
                if since.claimed and (idle or time.monotonic() - last_summary > SUMMARY_INTERVAL):
                    log.info("messages: %s claimed, %s recovered, %s", since.claimed, since.recovered,
                             dict(sorted(since.outcomes.items())))
                    last_summary, since = time.monotonic(), DispatchReport()
                if idle:
                    if on_idle is not None:
                        on_idle()
                    self._stop.wait(self.poll)
        finally:
            self._stop.set()
            if runner is not None:
                runner.join()
        return self.stats

    def send_batch(self) -> DispatchReport:
        """Claim and send one batch of due messages (nothing when none is due)."""
        from crm_segments.web.webhooks import public_base_url

        state = get_state(self.app)
        report = dispatch_due(state.session_factory, settings=state.settings, now=utcnow(), limit=self.batch,
                              base_url=public_base_url(self.app), workers=self.threads)
        if report.claimed:
            self.stats.batches += 1
        self.stats.report.merge(report)
        return report

    def _run_workflows(self) -> None:
        from .workflows.engine import advance_due

        factory = get_state(self.app).session_factory
        while not self._stop.is_set():
            try:
                with self.app.app_context():
                    ran = advance_due(factory, now=utcnow())
            except Exception:  # a database hiccup must not stop the worker
                log.exception("running due workflow steps failed")
                ran = 0
            if not ran:
                self._stop.wait(WORKFLOW_INTERVAL)

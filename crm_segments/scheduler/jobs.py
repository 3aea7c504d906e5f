"""The declarative list of periodic jobs, with stable ids, and the function APScheduler calls.

Each target is a function taking the extension's state, ``(state, *, now)``; it opens its own
transactions, so a failing segment or message never undoes the others. No Flask app is involved: the
scheduler's runner hands its state to ``run_job``. APScheduler's job store keeps ``run_job`` and the
job's id only, so the ids must stay stable; the targets are looked up here by id at each run.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Protocol

from crm_segments.db import utcnow
from crm_segments.messages.jobs import scheduled_dispatch
from crm_segments.state import State

from . import targets

log = logging.getLogger(__name__)


class Target(Protocol):
    def __call__(self, state: State, *, now: dt.datetime) -> object: ...


@dataclass(frozen=True)
class ScheduledJob:
    id: str  # stored in the job store: keep it when the target moves
    target: Target
    seconds: int
    description: str


JOBS: tuple[ScheduledJob, ...] = (
    ScheduledJob("segments.refresh_due", targets.refresh_due, 60,
                 "Refresh live and query segments whose interval has passed"),
    ScheduledJob("tasks.run_pending", targets.run_pending, 10,
                 "Run background tasks queued by pages (refreshes, imports) that no web process ran"),
    ScheduledJob("tagging.auto_rules", targets.auto_tag_rules, 900,
                 "Run enabled auto-tag rules over the whole base"),
    ScheduledJob("workflows.enroll", targets.enroll, 15,
                 "Enroll profiles into workflows from segment entries, tags added and record dates"),
    ScheduledJob("workflows.advance", targets.advance, 15,
                 "Run due workflow steps: goals and exits first, then messages, waits, branches, tags"),
    # Each run sends batch after batch until nothing is due (at most ~50 s); an idle run is 3 statements.
    ScheduledJob("messages.dispatch_due", scheduled_dispatch, 5,
                 "Send due messages and retry failed ones"),
)


def run_job(job_id: str, now: dt.datetime | None = None, *, state: State | None = None) -> None:
    """Entry point stored in the job store with the job id only (the runner's executor adds its
    ``state``): look the job up by id and run it."""
    if state is None:
        raise RuntimeError(f"scheduled job {job_id} needs the extension's state")
    job = next((j for j in JOBS if j.id == job_id), None)
    if job is None:
        log.warning("scheduled job %s is no longer declared; skipped", job_id)
        return
    job.target(state, now=now or utcnow())

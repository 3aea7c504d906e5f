"""The declarative list of periodic jobs, with stable ids, and the function APScheduler calls.

Each target is ``module:function`` taking the extension's state, ``(state, *, now)``; it opens its
own transactions, so a failing segment or message never undoes the others. No Flask app is involved:
the scheduler's runner hands its state to ``run_job``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crm_segments.db import utcnow
from crm_segments.state import State

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduledJob:
    id: str
    target: str
    seconds: int
    description: str


JOBS: tuple[ScheduledJob, ...] = (
    ScheduledJob("segments.refresh_due", "crm_segments.scheduler.targets:refresh_due", 60,
                 "Refresh live and query segments whose interval has passed"),
    ScheduledJob("tasks.run_pending", "crm_segments.scheduler.targets:run_pending", 10,
                 "Run background tasks queued by pages (refreshes, imports) that no web process ran"),
    ScheduledJob("tagging.auto_rules", "crm_segments.scheduler.targets:auto_tag_rules", 900,
                 "Run enabled auto-tag rules over the whole base"),
    ScheduledJob("workflows.enroll", "crm_segments.scheduler.targets:enroll", 15,
                 "Enroll profiles into workflows from segment entries, tags added and record dates"),
    ScheduledJob("workflows.advance", "crm_segments.scheduler.targets:advance", 15,
                 "Run due workflow steps: goals and exits first, then messages, waits, branches, tags"),
    # Each run sends batch after batch until nothing is due (at most ~50 s); an idle run is 3 statements.
    ScheduledJob("messages.dispatch_due", "crm_segments.automation.jobs:scheduled_dispatch", 5,
                 "Send due messages and retry failed ones"),
)

def resolve(target: str) -> Callable[..., Any]:
    module_name, _, attribute = target.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module_name), attribute)
    return function


def run_job(job_id: str, now: dt.datetime | None = None, *, state: State | None = None) -> None:
    """Entry point stored in the job store with the job id only (the runner's executor adds its
    ``state``): look the job up by id and run it."""
    if state is None:
        raise RuntimeError(f"scheduled job {job_id} needs the extension's state")
    job = next((j for j in JOBS if j.id == job_id), None)
    if job is None:
        log.warning("scheduled job %s is no longer declared; skipped", job_id)
        return
    resolve(job.target)(state, now=now or utcnow())

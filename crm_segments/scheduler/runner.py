"""Run the scheduler in exactly one process: hold the database lease, else stand by.

APScheduler's job store must not be shared by two running schedulers, so a process starts its
BackgroundScheduler only while it holds the lease, and shuts it down as soon as it loses it.
Missed runs after downtime are coalesced into one (misfire_grace_time=None, coalesce=True).
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import os
import socket
import threading
import uuid
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from crm_segments.db import utcnow
from crm_segments.models import SchedulerJob
from crm_segments.scheduler import lease
from crm_segments.scheduler.jobs import JOBS, run_job
from crm_segments.state import State, get_state

log = logging.getLogger(__name__)
LEASE_NAME = "scheduler"


class SchedulerRunner:
    def __init__(self, app: Flask, *, ttl: dt.timedelta = dt.timedelta(seconds=30),
                 holder: str | None = None) -> None:
        self.app = app
        self.ttl = ttl
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_leader(self) -> bool:
        return self.scheduler is not None

    def step(self, now: dt.datetime | None = None) -> bool:
        """Renew or take the lease and start or stop APScheduler to match; True while leading."""
        engine = get_state(self.app).engine
        holds = lease.try_acquire(engine, name=LEASE_NAME, holder=self.holder, ttl=self.ttl,
                                  now=now or utcnow())
        if holds and self.scheduler is None:
            self._start_scheduler()
        elif not holds and self.scheduler is not None:
            log.warning("scheduler lease lost to another process; standing by")
            self._stop_scheduler()
        return holds

    def run_forever(self) -> None:
        interval = self.ttl.total_seconds() / 3
        try:
            while not self._stop.is_set():
                try:
                    self.step()
                except Exception:  # a database hiccup must not kill the scheduler process
                    log.exception("scheduler lease check failed")
                self._stop.wait(interval)
        finally:
            self._stop_scheduler()
            lease.release(get_state(self.app).engine, name=LEASE_NAME, holder=self.holder)

    def start_in_background(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name="crm-segments-scheduler",
                                        daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask run_forever to finish (safe from a signal handler)."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        else:
            self._stop_scheduler()

    def _start_scheduler(self) -> None:
        state = get_state(self.app)
        engine = state.engine
        # SQLite has one writer at a time: jobs run one after another rather than queue on its lock.
        workers = 1 if engine.dialect.name == "sqlite" else 4
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(
                engine=engine, tablename=SchedulerJob.__tablename__)},
            executors={"default": StateExecutor(state, workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=dt.UTC,
        )
        scheduler.start(paused=True)
        reconcile_jobs(scheduler)
        scheduler.resume()
        self.scheduler = scheduler
        log.info("scheduler started as %s", self.holder)

    def _stop_scheduler(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None


class StateExecutor(ThreadPoolExecutor):  # type: ignore[misc]
    """Runs the stored jobs with this process's state: the job store keeps ``run_job`` and the job's
    id only (its rows outlive any process), and each run gets ``state``."""

    def __init__(self, state: State, max_workers: int) -> None:
        super().__init__(max_workers)
        self.state = state

    def submit_job(self, job: Any, run_times: list[dt.datetime]) -> None:
        # A copy: the scheduler writes the stored job back after submitting it, which must not
        # carry the state. The copy is rebuilt from the job's own state (APScheduler 3 pickles jobs
        # that way), plus the two links it keeps outside it.
        bound = copy.copy(job)
        bound._scheduler, bound._jobstore_alias = job._scheduler, job._jobstore_alias
        bound.kwargs = {**job.kwargs, "state": self.state}
        super().submit_job(bound, run_times)


def reconcile_jobs(scheduler: BackgroundScheduler) -> None:
    """Make the job store match JOBS; unchanged jobs keep their next run time so missed runs catch up."""
    declared = {job.id: job for job in JOBS}
    for stored in scheduler.get_jobs():
        if stored.id not in declared:
            stored.remove()
    for job in JOBS:
        stored = scheduler.get_job(job.id)
        interval = getattr(stored.trigger, "interval", None) if stored else None
        if stored is not None and interval == dt.timedelta(seconds=job.seconds):
            continue
        scheduler.add_job(run_job, "interval", seconds=job.seconds, id=job.id, name=job.description,
                          args=[job.id], replace_existing=True)

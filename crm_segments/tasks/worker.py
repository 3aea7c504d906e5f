"""Runs queued tasks: ``run_pending_tasks`` (the scheduler's job, and the loop of the web process's
worker thread) claims one task at a time, runs it in transactions of its own, and records how it ended."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.orm import Session, undefer

from crm_segments.db import utcnow
from crm_segments.kernel.unit_of_work import error_message
from crm_segments.models import BackgroundTask

from .kinds import TaskInput, TaskKind, TaskKinds, TaskResult
from .queue import MAX_ATTEMPTS, claim_next, finish

log = logging.getLogger(__name__)
IDLE_SECONDS = 5.0  # the worker thread ends when nothing was queued for this long; a wake starts it again

# What each task running in this process is doing now, for its page ("Writing 1,200 rows ...").
PROGRESS: dict[int, str] = {}


def run_pending_tasks(session_factory: Callable[[], Session], kinds: TaskKinds, **_: object) -> int:
    """Run queued tasks of ``kinds`` (the app's, on its state) until none is left; returns how many ran."""
    ran = 0
    while (task_id := claim_next(session_factory, now=utcnow())) is not None:
        run_task(session_factory, kinds, task_id)
        ran += 1
    return ran


def run_task(session_factory: Callable[[], Session], kinds: TaskKinds, task_id: int) -> TaskResult:
    with session_factory() as session:
        task = session.get(BackgroundTask, task_id, options=[undefer(BackgroundTask.payload)])
        if task is None:
            return TaskResult(False, "the task no longer exists")
        given = TaskInput(task.id, dict(task.params), task.payload, task.created_by_id)
        name, attempts = task.kind, task.attempts
    kind = kinds.get(name)
    if kind is None:
        result = TaskResult(False, f"unknown task kind {name!r}")
    elif attempts > MAX_ATTEMPTS:
        result = TaskResult(False, f"given up: the process running it stopped {MAX_ATTEMPTS} times")
    else:
        result = _run(session_factory, name, kind, given)
    with session_factory() as session:
        finish(session, task_id, ok=result.ok, outcome=result.outcome, details=result.details, now=utcnow())
        session.commit()
    return result


def _run(session_factory: Callable[[], Session], name: str, kind: TaskKind, given: TaskInput) -> TaskResult:
    def report(line: str) -> None:
        PROGRESS[given.id] = line

    try:
        return kind.handler(session_factory, given, report)
    except Exception as exc:  # noqa: BLE001 - kept on the task row and shown on its page
        log.exception("background task %s (%s) failed", given.id, name)
        return TaskResult(False, f"The task failed: {error_message(exc)}")
    finally:
        PROGRESS.pop(given.id, None)


class TaskWorker:
    """A daemon thread per app that runs queued tasks while there are any: ``wake`` starts it and it
    ends once idle, so an app that queues nothing holds no thread and no connection. Tasks queued by
    other processes, and those left by a process that stopped, are the scheduler's job."""

    def __init__(self, session_factory: Callable[[], Callable[[], Session]], kinds: TaskKinds) -> None:
        # A getter, so a factory replaced after start-up (tests, a host app) is the one used.
        self._session_factory = session_factory
        self._kinds = kinds
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def wake(self) -> None:
        with self._lock:
            if self._stopping:
                return
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="crm-segments-tasks", daemon=True)
                self._thread.start()
        self._wake.set()

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                run_pending_tasks(self._session_factory(), self._kinds)
            except Exception:  # noqa: BLE001 - the next wake, or the scheduler, tries again
                log.exception("background tasks could not be run")
            self._wake.wait(IDLE_SECONDS)
            with self._lock:  # decided under the lock, so a wake now starts a new thread
                if self._stopping or not self._wake.is_set():
                    self._thread = None
                    return

"""What the browser soak watches while a day's work runs against the served app.

- ``Journal``: every HTTP exchange the server answers (WSGI middleware: status, seconds from the
  moment the server hands the request to the app until the last byte of the body was handed back,
  requests still running, and on SQLite how long the request waited for the write lock), and what the
  browser saw (5xx responses, each page's time in the browser), filed under the step of the day that
  caused it.
- ``LockProbe``: on SQLite, how long each writing transaction of the app's engine waited in its BEGIN
  IMMEDIATE (SQLite's own lock, with its busy timeout), and statements refused with "database is
  locked". The wait for the process's write gate, before the BEGIN, is measured by the gate itself
  (``crm_segments.kernel.sqlite_writers``) and added to each request's wait.
- ``LogWatch``: log records of the served process (the app, the scheduler, the task worker, the server)
  at ERROR and above, and any that says "database is locked", filed under the step.
- ``idle_in_transaction``: PostgreSQL backends of the app left "idle in transaction".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine

PAGE_BUDGET = 1.0  # seconds: the longest any page, download or call may take
LOCK_BUDGET = 1.0  # seconds: the longest a request may wait for SQLite's write lock
IDLE_LIMIT = 2.0  # seconds "idle in transaction" after which a backend's transaction is leaked


@dataclass
class Exchange:
    step: str
    client: str
    method: str
    path: str
    started: float
    status: int | None = None
    seconds: float | None = None  # None while the response is still being produced
    error: str | None = None
    lock_wait: float = 0.0  # seconds the request waited for SQLite's write lock (gate and BEGIN)

    def describe(self) -> str:
        took = f"{self.seconds:.2f} s" if self.seconds is not None else \
            f"still running after {time.monotonic() - self.started:.1f} s"
        outcome = f"{self.status}" if self.status is not None else "no status"
        extra = f" ({self.error})" if self.error else ""
        waited = f", {self.lock_wait:.2f} s of it waiting for the write lock" if self.lock_wait >= .01 else ""
        return f"{self.client} {self.method} {self.path} -> {outcome} in {took}{waited}{extra}"


@dataclass
class LockWait:
    step: str
    waiter: str  # "GET /path" for a request, else the thread's name
    in_request: bool
    statement: str
    seconds: float
    error: str | None = None

    def describe(self) -> str:
        extra = f", then failed: {self.error}" if self.error else ""
        return f"{self.waiter} waited {self.seconds:.2f} s in {self.statement!r}{extra}"


@dataclass(frozen=True)
class BrowserTiming:
    step: str
    method: str
    url: str
    resource: str  # document, fetch, xhr
    seconds: float  # from the request's start until its response's last byte, as the browser saw it


@dataclass
class Journal:
    """The day's log; ``step`` names what the people are doing now."""

    step: str = "start"
    exchanges: list[Exchange] = field(default_factory=list)
    browser_problems: list[tuple[str, str]] = field(default_factory=list)
    browser_timings: list[BrowserTiming] = field(default_factory=list)
    lock: Any = field(default_factory=threading.Lock)

    def open(self, client: str, method: str, path: str) -> Exchange:
        exchange = Exchange(self.step, client, method, path, time.monotonic())
        with self.lock:
            self.exchanges.append(exchange)
        return exchange

    def close(self, exchange: Exchange, status: int | None, error: str | None = None) -> None:
        with self.lock:
            exchange.status = status if status is not None else exchange.status
            exchange.seconds = time.monotonic() - exchange.started
            exchange.error = error

    def browser_problem(self, text: str) -> None:
        with self.lock:
            self.browser_problems.append((self.step, text))

    def browser_timing(self, method: str, url: str, resource: str, seconds: float) -> None:
        with self.lock:
            self.browser_timings.append(BrowserTiming(self.step, method, url, resource, seconds))

    def slowest(self, count: int = 5) -> list[Exchange]:
        with self.lock:
            done = [e for e in self.exchanges if e.seconds is not None]
        return sorted(done, key=lambda e: e.seconds or 0.0, reverse=True)[:count]

    def slowest_in_browser(self, count: int = 5) -> list[BrowserTiming]:
        with self.lock:
            return sorted(self.browser_timings, key=lambda t: t.seconds, reverse=True)[:count]

    def longest_lock_waits(self, count: int = 5) -> list[Exchange]:
        with self.lock:
            waited = [e for e in self.exchanges if e.lock_wait > 0]
        return sorted(waited, key=lambda e: e.lock_wait, reverse=True)[:count]

    def all_exchanges(self) -> list[Exchange]:
        with self.lock:
            return list(self.exchanges)

    def all_browser_timings(self) -> list[BrowserTiming]:
        with self.lock:
            return list(self.browser_timings)

    def of_step(self, step: str) -> list[Exchange]:
        with self.lock:
            return [e for e in self.exchanges if e.step == step]

    def running_too_long(self) -> list[Exchange]:
        now = time.monotonic()
        with self.lock:
            return [e for e in self.exchanges if e.seconds is None and now - e.started > PAGE_BUDGET]


class RecordingMiddleware:
    """WSGI middleware: files every request, its status, how long its whole body took and, given
    ``lock_waited`` (the seconds the calling thread has waited for the write lock in all, read before
    and after), how long the request waited for the write lock. A WSGI server runs the app, its body
    and the body's close in one thread, so the difference is this request's wait."""

    def __init__(self, app: Callable[..., Any], journal: Journal,
                 lock_waited: Callable[[], float] | None = None) -> None:
        self.app = app
        self.journal = journal
        self.lock_waited = lock_waited or (lambda: 0.0)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        agent = environ.get("HTTP_USER_AGENT", "")
        client = "browser" if "Chrome" in agent else agent or "unknown client"
        path = environ.get("PATH_INFO", "")
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        exchange = self.journal.open(client, environ.get("REQUEST_METHOD", ""), path)
        waited_before = self.lock_waited()

        def done(error: str | None, status: int | None = None) -> None:
            exchange.lock_wait = self.lock_waited() - waited_before
            self.journal.close(exchange, status, error)

        def recording_start_response(status: str, headers: list[tuple[str, str]],
                                     exc_info: Any = None) -> Any:
            exchange.status = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, recording_start_response)
        except BaseException as exc:
            done(repr(exc), 500)
            raise
        return _RecordedBody(body, done)


class _RecordedBody:
    """The app's body, passed through; the exchange ends when the server closes it."""

    def __init__(self, body: Iterable[bytes], done: Callable[[str | None], None]) -> None:
        self.body = body
        self.done = done
        self.error: str | None = None

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self.body
        except BaseException as exc:
            self.error = f"body failed: {exc!r}"
            raise

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.done(self.error)


class LockProbe:
    """Times every BEGIN on a SQLite engine (where SQLite's own lock is waited for) and notes statements
    refused with "database is locked", naming the request or thread that waited; ``waited_in_this_thread``
    adds up the BEGIN waits of the calling thread."""

    def __init__(self, engine: Engine, journal: Journal) -> None:
        self.engine = engine
        self.journal = journal
        self.waits: list[LockWait] = []
        self._pending: dict[int, tuple[float, str, bool, str]] = {}
        self._lock = threading.Lock()
        self._this_thread = threading.local()
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "handle_error", self._failed)

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)
        event.remove(self.engine, "handle_error", self._failed)

    @staticmethod
    def _waiter() -> tuple[str, bool]:
        from flask import has_request_context, request

        if has_request_context():
            return f"{request.method} {request.full_path.rstrip('?')}", True
        return threading.current_thread().name, False

    def _before(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        waiter, in_request = self._waiter()
        with self._lock:
            self._pending[id(conn)] = (time.monotonic(), waiter, in_request, statement.strip()[:80])

    def _after(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        with self._lock:
            pending = self._pending.pop(id(conn), None)
        if pending is not None and _takes_the_lock(statement):
            self._note(pending, None)

    def _failed(self, context: Any) -> None:
        conn = context.connection
        with self._lock:
            pending = self._pending.pop(id(conn), None) if conn is not None else None
        message = str(context.original_exception)
        if pending is not None and (_takes_the_lock(pending[3]) or "locked" in message):
            self._note(pending, message)

    def _note(self, pending: tuple[float, str, bool, str], error: str | None) -> None:
        started, waiter, in_request, statement = pending
        wait = LockWait(self.journal.step, waiter, in_request, statement, time.monotonic() - started, error)
        self._this_thread.waited = self.waited_in_this_thread() + wait.seconds
        with self._lock:
            self.waits.append(wait)

    def waited_in_this_thread(self) -> float:
        waited: float = getattr(self._this_thread, "waited", 0.0)
        return waited

    def of_step(self, step: str) -> list[LockWait]:
        with self._lock:
            return [w for w in self.waits if w.step == step]

    def every(self) -> list[LockWait]:
        with self._lock:
            return list(self.waits)

    def waiting_now(self) -> list[LockWait]:
        """BEGINs still waiting for the lock for longer than the budget."""
        now = time.monotonic()
        with self._lock:
            return [LockWait(self.journal.step, waiter, in_request, statement, now - started,
                             "still waiting")
                    for started, waiter, in_request, statement in self._pending.values()
                    if _takes_the_lock(statement) and now - started > LOCK_BUDGET]


def _takes_the_lock(statement: str) -> bool:
    """A BEGIN that takes the write lock (IMMEDIATE); a DEFERRED one, a reader's, waits for nothing."""
    words = statement.upper().split()
    return bool(words) and words[0] == "BEGIN" and "DEFERRED" not in words


class LogWatch(logging.Handler):
    """Keeps the log records of the day at ERROR and above, and any that says "database is locked"."""

    def __init__(self, journal: Journal) -> None:
        super().__init__(logging.DEBUG)
        self.journal = journal
        self.records: list[tuple[str, str]] = []  # (step, what was logged)
        self._lock_records = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        if record.levelno >= logging.ERROR or "database is locked" in text:
            with self._lock_records:
                self.records.append((self.journal.step, f"{record.levelname} {record.name}: {text[:300]}"))

    def of_step(self, step: str) -> list[str]:
        with self._lock_records:
            return [text for at, text in self.records if at == step]

    def every(self) -> list[tuple[str, str]]:
        with self._lock_records:
            return list(self.records)

    def __enter__(self) -> LogWatch:
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *_exc: object) -> None:
        logging.getLogger().removeHandler(self)


def idle_in_transaction(checker: Engine, *, timeout: float = 3 * IDLE_LIMIT) -> list[str]:
    """Backends of the database (other than the checking one) that stay "idle in transaction" for
    IDLE_LIMIT seconds; [] as soon as none is. A transaction between two statements of a running job
    is idle for milliseconds; one left open by a request stays so."""
    query = text(
        "SELECT pid, state, EXTRACT(EPOCH FROM now() - state_change) AS idle, backend_start, "
        "left(query, 160) AS query FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND state LIKE 'idle in transaction%' ORDER BY state_change")
    deadline = time.monotonic() + timeout
    while True:
        with checker.connect() as conn:
            rows = conn.execute(query).all()
        leaked = [r for r in rows if r.idle >= IDLE_LIMIT]
        if not rows:
            return []
        if leaked or time.monotonic() > deadline:
            return [f"backend {r.pid} {r.state} for {r.idle:.1f} s after {r.query!r}" for r in rows]
        time.sleep(0.1)  # poll the condition until the deadline

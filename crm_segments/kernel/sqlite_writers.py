"""One writer at a time per SQLite file inside a process, queued in Python.

SQLite lets one transaction write a database file at a time. The threads of one process (web
requests, the scheduler, the task worker) queue here for it instead of in SQLite's busy handler, which
polls with sleeps of up to 100 ms: the next writer starts as soon as the last one ends. A thread that
already holds a writing transaction and begins a second one on another connection would wait on
itself until the busy timeout, so that fails at once, naming the problem. Other processes still meet
at SQLite's own lock and its busy timeout.

Every wait is measured where it happens: ``waited_in_this_thread`` is how long the calling thread has
waited for a gate in all (a request's wait is the difference between its end and its start), and each
gate keeps its longest wait, who waited and who held the lock meanwhile (``WriteGate.longest``), and
its longest hold, the most any writer can have had to wait (``WriteGate.longest_hold``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

GATE_KEY = "crm_sqlite_write_gate"


class WriterWouldWaitOnItself(RuntimeError):
    """A thread began a second writing transaction while its first still holds the write lock."""


@dataclass(frozen=True)
class Wait:
    seconds: float
    waiter: str  # the name of the thread that waited
    holder: str  # the name of the thread that held the lock when the wait began ("" if none)


NO_WAIT = Wait(0.0, "", "")


@dataclass(frozen=True)
class Hold:
    seconds: float
    holder: str  # the name of the thread that held the lock


NO_HOLD = Hold(0.0, "")

_this_thread = threading.local()


def waited_in_this_thread() -> float:
    """Seconds the calling thread has spent waiting for write gates since it started, in all."""
    waited: float = getattr(_this_thread, "waited", 0.0)
    return waited


class WriteGate:
    def __init__(self, database: str) -> None:
        self.database = database
        self._lock = threading.Lock()
        self.owner: int | None = None
        self.owner_name = ""
        self.held_since = 0.0
        self._longest = NO_WAIT
        self._longest_hold = NO_HOLD
        self._longest_lock = threading.Lock()

    def acquire(self, *, timeout: float) -> float:
        """Wait until this thread may write (at most ``timeout`` seconds); returns the seconds waited."""
        me = threading.current_thread()
        if self.owner == me.ident:
            raise WriterWouldWaitOnItself(
                f"this thread already holds the write lock of {self.database} in another transaction; "
                "end it before starting a new writing transaction")
        holder = self.owner_name
        started = time.monotonic()
        acquired = self._lock.acquire(timeout=timeout)
        now = time.monotonic()
        self._note(Wait(now - started, me.name, holder))
        if not acquired:
            held = now - self.held_since
            raise TimeoutError(f"database is locked: another writer of {self.database} has held it for "
                               f"{held:.1f} s (waited {timeout:.0f} s)")
        self.owner, self.owner_name, self.held_since = me.ident, me.name, now
        return now - started

    def release(self) -> None:
        held = Hold(time.monotonic() - self.held_since, self.owner_name)
        self.owner, self.owner_name = None, ""
        self._lock.release()
        with self._longest_lock:
            if held.seconds > self._longest_hold.seconds:
                self._longest_hold = held

    def _note(self, wait: Wait) -> None:
        _this_thread.waited = waited_in_this_thread() + wait.seconds
        with self._longest_lock:
            if wait.seconds > self._longest.seconds:
                self._longest = wait

    @property
    def longest(self) -> Wait:
        """The longest any thread has waited for this gate (since the last ``forget_longest``)."""
        with self._longest_lock:
            return self._longest

    @property
    def longest_hold(self) -> Hold:
        """The longest any thread has held this gate (since the last ``forget_longest``)."""
        with self._longest_lock:
            return self._longest_hold

    def forget_longest(self) -> Wait:
        """Return the longest wait so far and start over, for the waits and the holds."""
        with self._longest_lock:
            longest, self._longest, self._longest_hold = self._longest, NO_WAIT, NO_HOLD
            return longest


_gates: dict[str, WriteGate] = {}
_gates_lock = threading.Lock()


def gate_for(database: str) -> WriteGate:
    with _gates_lock:
        return _gates.setdefault(database, WriteGate(database))


def hold(connection_info: dict[str, Any], gate: WriteGate) -> None:
    connection_info[GATE_KEY] = gate


def let_go(connection_info: dict[str, Any]) -> None:
    """The connection's transaction ended (or the connection went back to the pool): free the gate."""
    gate: WriteGate | None = connection_info.pop(GATE_KEY, None)
    if gate is not None:
        gate.release()

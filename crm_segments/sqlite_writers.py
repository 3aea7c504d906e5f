"""One writer at a time per SQLite file inside a process, queued in Python.

SQLite lets one transaction write a database file at a time. The threads of one process (web
requests, the scheduler, the task worker) queue here for it instead of in SQLite's busy handler, which
polls with sleeps of up to 100 ms: the next writer starts as soon as the last one ends. A thread that
already holds a writing transaction and begins a second one on another connection would wait on
itself until the busy timeout, so that fails at once, naming the problem. Other processes still meet
at SQLite's own lock and its busy timeout.
"""

from __future__ import annotations

import threading
import time
from typing import Any

GATE_KEY = "crm_sqlite_write_gate"


class WriterWouldWaitOnItself(RuntimeError):
    """A thread began a second writing transaction while its first still holds the write lock."""


class WriteGate:
    def __init__(self, database: str) -> None:
        self.database = database
        self._lock = threading.Lock()
        self.owner: int | None = None
        self.held_since = 0.0

    def acquire(self, *, timeout: float) -> None:
        me = threading.get_ident()
        if self.owner == me:
            raise WriterWouldWaitOnItself(
                f"this thread already holds the write lock of {self.database} in another transaction; "
                "end it before starting a new writing transaction")
        if not self._lock.acquire(timeout=timeout):
            held = time.monotonic() - self.held_since
            raise TimeoutError(f"database is locked: another writer of {self.database} has held it for "
                               f"{held:.1f} s (waited {timeout:.0f} s)")
        self.owner, self.held_since = me, time.monotonic()

    def release(self) -> None:
        self.owner = None
        self._lock.release()


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

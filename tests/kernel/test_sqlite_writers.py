"""The SQLite write gate's own bookkeeping: the longest wait and the longest hold, and starting over."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from crm_segments.kernel import sqlite_writers
from crm_segments.kernel.sqlite_writers import WriteGate, WriterWouldWaitOnItself


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(sqlite_writers, "time", SimpleNamespace(monotonic=lambda: now[0]))
    return now


def test_a_gate_keeps_its_longest_hold_and_who_held_it(clock: list[float]) -> None:
    gate = WriteGate("crm.db")
    me = threading.current_thread().name
    assert gate.acquire(timeout=1) == 0.0
    clock[0] += 2.5
    gate.release()
    gate.acquire(timeout=1)
    clock[0] += 1.0
    gate.release()
    assert (gate.longest_hold.seconds, gate.longest_hold.holder) == (2.5, me)

    gate.forget_longest()
    assert gate.longest_hold.seconds == 0.0
    gate.acquire(timeout=1)
    clock[0] += 0.25
    gate.release()
    assert gate.longest_hold.seconds == 0.25


def test_a_writer_that_would_wait_on_itself_fails_at_once() -> None:
    gate = WriteGate("crm.db")
    gate.acquire(timeout=1)
    try:
        with pytest.raises(WriterWouldWaitOnItself):
            gate.acquire(timeout=30)
    finally:
        gate.release()
    assert gate.acquire(timeout=1) >= 0.0
    gate.release()

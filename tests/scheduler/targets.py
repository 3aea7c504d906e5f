"""Job targets used by the scheduler tests in place of the product's jobs."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

runs: list[dt.datetime] = []
states: list[Any] = []
ran = threading.Event()


def record_run(state: Any, *, now: dt.datetime) -> None:
    runs.append(now)
    states.append(state)
    ran.set()

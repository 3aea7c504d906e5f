"""A fake provider served by processes of its own, for benchmarks.

In the tests a fake runs as threads of the test process, which lets a test inject a fault and look at
what was received. A benchmark needs the opposite: a real provider is another machine, so its work —
above all checking every request against the OpenAPI definition with openapi-core, 2-3 ms of CPU per
request — must not run in the sender's process and compete for its CPU and GIL.
``FakeProviderProcesses`` starts ``processes`` servers on one port (SO_REUSEPORT: the kernel spreads
the connections over them); each serves a ``FakeSendGrid`` or ``FakeTwilio`` from one asyncio loop
(``loop_server``, cheaper per request than the tests' threads) and checks every request
exactly as in the tests, before answering it or, with ``check_after``, once it is stopped (so the
check's CPU is not spent while a benchmark is timed). The parent sees the counts (requests, accepted
messages, requests checked, spec errors, CPU) and the first spec errors.
"""

from __future__ import annotations

import importlib
import multiprocessing
import queue
import socket
import time
from types import TracebackType
from typing import Any

from . import loop_server

FAKES = {"sendgrid": "tests.fakes.sendgrid:FakeSendGrid", "twilio": "tests.fakes.twilio:FakeTwilio"}
# Per process: requests, accepted messages, requests checked, spec errors, CPU milliseconds.
_REQUESTS, _MESSAGES, _CHECKED, _SPEC_ERRORS, _CPU_MS = range(5)
_COUNTS = 5
_KEPT_ERRORS = 20


class FakeProviderProcesses:
    def __init__(self, kind: str = "sendgrid", *, processes: int = 2, check_after: bool = False,
                 **options: Any) -> None:
        if kind not in FAKES:
            raise ValueError(f"kind: {kind!r} is not one of {', '.join(FAKES)}")
        if "validate" in options:
            raise ValueError("the fake provider processes always check every request")
        self.kind = kind
        self.processes = processes
        # api_key, account_sid, ...; latency: seconds each answer waits (a provider far away);
        # handshake: seconds each new connection waits first (its TCP and TLS round trips)
        self.options = {**options, "check_after": check_after}
        self.spec_error_samples: list[str] = []
        self._context = multiprocessing.get_context("spawn")
        self._counts = self._context.Array("q", _COUNTS * processes)
        self._errors: Any = self._context.Queue()
        self._stop = self._context.Event()
        self._children: list[Any] = []
        self._reserved: socket.socket | None = None
        self.port = 0

    def start(self) -> FakeProviderProcesses:
        # Holding the port (bound, not listening) keeps it ours while the servers start on it.
        self._reserved = socket.socket()
        self._reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self._reserved.bind(("127.0.0.1", 0))
        self.port = int(self._reserved.getsockname()[1])
        ready = [self._context.Event() for _ in range(self.processes)]
        for slot in range(self.processes):
            child = self._context.Process(
                target=_serve, name=f"fake-{self.kind}-{slot}", daemon=True,
                args=(self.kind, self.options, self.port, slot, self._counts, self._errors, self._stop,
                      ready[slot]))
            child.start()
            self._children.append(child)
        for event in ready:
            if not event.wait(60):
                self.stop()
                raise RuntimeError(f"a fake {self.kind} process did not start")
        return self

    def stop(self) -> None:
        """Stop serving; with ``check_after`` the requests are checked now (this takes a while)."""
        self._stop.set()
        for child in self._children:
            child.join(timeout=300)
            if child.is_alive():
                child.kill()
        self._children.clear()
        self._drain_errors()
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None

    def __enter__(self) -> FakeProviderProcesses:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _total(self, index: int) -> int:
        with self._counts.get_lock():
            return sum(self._counts[slot * _COUNTS + index] for slot in range(self.processes))

    @property
    def requests(self) -> int:
        return self._total(_REQUESTS)

    @property
    def messages(self) -> int:
        """Messages the fakes accepted (answered 202 / 201)."""
        return self._total(_MESSAGES)

    @property
    def checked(self) -> int:
        """Requests checked against the definition so far (all of them once stopped)."""
        return self._total(_CHECKED)

    @property
    def spec_errors(self) -> int:
        self._drain_errors()
        return self._total(_SPEC_ERRORS)

    @property
    def cpu_seconds(self) -> float:
        """CPU time the fake processes have used (answering and checking)."""
        return self._total(_CPU_MS) / 1000

    def _drain_errors(self) -> None:
        while True:
            try:
                self.spec_error_samples.append(self._errors.get_nowait())
            except queue.Empty:
                return


def _serve(kind: str, options: dict[str, Any], port: int, slot: int, counts: Any, errors: Any, stop: Any,
           ready: Any) -> None:
    module, _, name = FAKES[kind].partition(":")
    options = dict(options)
    latency = options.pop("latency", 0.0)
    handshake = options.pop("handshake", 0.0)
    fake = getattr(importlib.import_module(module), name)(**options)
    fake.latency, fake.handshake = latency, handshake
    reported = 0

    def report() -> None:
        nonlocal reported
        with counts.get_lock():
            base = slot * _COUNTS
            counts[base + _REQUESTS], counts[base + _MESSAGES] = len(fake.requests), len(fake.messages)
            counts[base + _CHECKED], counts[base + _SPEC_ERRORS] = fake.checked, len(fake.spec_errors)
            counts[base + _CPU_MS] = int(time.process_time() * 1000)
        for problem in fake.spec_errors[reported:_KEPT_ERRORS]:
            errors.put(problem)
        reported = max(reported, min(len(fake.spec_errors), _KEPT_ERRORS))

    loop_server.serve(fake, port=port, keep_going=lambda: not stop.is_set(), every=report, started=ready.set)
    fake.check_received()  # what check_after left unchecked
    report()

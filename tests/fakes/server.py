"""A fake provider HTTP server on 127.0.0.1: records requests, checks them, injects failures.

Subclasses (``FakeSendGrid``, ``FakeTwilio``) supply authentication, the provider's answer and its
error format. Every request is checked against the provider's OpenAPI definition first; a request
that does not match is answered like the provider would (400) *and* kept in ``spec_errors`` so a
test can fail on it even when the product swallowed the error.

Failures are queued with ``fail_next`` / ``slow_next`` / ``drop_next`` / ``block_next`` and apply to
the next requests in order, after the request was checked and authenticated (as at the real API).
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from openapi_core import OpenAPI
from werkzeug.datastructures import Headers

from .openapi import load_spec, request_errors

BLOCK_TIMEOUT = 30.0  # a blocked request never outlives a broken test by much


@dataclass
class Received:
    """One HTTP request as the fake saw it."""

    method: str
    path: str
    query: str
    headers: Headers
    body: bytes
    at: dt.datetime
    peer: tuple[str, int] = ("", 0)  # the client's address and port: one port per connection
    answered_at: dt.datetime | None = None  # when the answer had been written (None: dropped)
    _json: Any = field(default=None, init=False, repr=False, compare=False)

    def json(self) -> Any:
        """The body parsed, once (the provider's checks and its answer both read it)."""
        if self._json is None:
            self._json = json.loads(self.body)
        return self._json


@dataclass
class Reply:
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    close: threading.Event | None = None  # close the connection after this answer, then set it


@dataclass
class Fault:
    kind: str                     # "status", "slow", "drop", "block" or "close"
    status: int = 500
    retry_after: int | None = None
    delay: float = 0.0
    accept: bool = False          # the provider took the message before the fault hit the answer
    blocker: Blocker | None = None
    closed: threading.Event | None = None  # "close": set once the connection is closed


@dataclass
class Blocker:
    """A request held open: ``received`` is set once the fake has it; ``release()`` lets it answer."""

    received: threading.Event = field(default_factory=threading.Event)
    _release: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self._release.set()

    def wait_received(self, timeout: float = 10.0) -> None:
        if not self.received.wait(timeout):
            raise AssertionError(f"the fake provider received no request within {timeout} s")


class FakeProvider:
    spec_file: str = ""
    latency = 0.0  # seconds every answer waits, like a provider across the internet (benchmarks)
    # Seconds a new connection waits before its first request is read: the TCP and TLS handshakes'
    # round trips to a provider across the internet, paid once per connection (benchmarks).
    handshake = 0.0

    def __init__(self, *, validate: bool = True, check_after: bool = False) -> None:
        """``validate``: check every request against the provider's OpenAPI definition, before it is
        answered (an invalid one gets the provider's 400). ``check_after``: answer at once and check
        each request later, in ``check_received()`` (at the latest in ``stop()``): for benchmarks, where
        the fake's CPU would otherwise be counted against the sender. Either way every request is
        checked and ends up in ``spec_errors`` if it does not match."""
        self.validate = validate
        self.check_after = check_after
        self.spec: OpenAPI | None = load_spec(self.spec_file) if validate else None
        self.requests: list[Received] = []
        self.messages: list[dict[str, Any]] = []   # accepted messages, in order
        self.spec_errors: list[str] = []
        self.checked = 0                           # requests checked against the definition
        self._unchecked: list[Received] = []
        self._faults: deque[Fault] = deque()
        self._blockers: list[Blocker] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, port: int = 0, *, reuse_port: bool = False) -> FakeProvider:
        """Serve on ``port`` (0: any free one); ``reuse_port`` lets several processes share it."""
        server = _Server(("127.0.0.1", port), _Handler, bind_and_activate=False)
        server.allow_reuse_port = reuse_port
        server.server_bind()
        server.server_activate()
        server.fake = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{type(self).__name__}:{server.server_port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        for blocker in self._blockers:
            blocker.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.check_received()

    def check_received(self) -> int:
        """Check the requests answered before being checked (``check_after``); returns how many."""
        with self._lock:
            pending, self._unchecked = self._unchecked, []
        for request in pending:
            self._check(request)
        return len(pending)

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "the fake is not running"
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- failure injection -----------------------------------------------------------------------

    def fail_next(self, status: int, *, retry_after: int | None = None, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status`` (e.g. 429 with Retry-After, 500)."""
        for _ in range(times):
            self._faults.append(Fault("status", status=status, retry_after=retry_after))

    def slow_next(self, delay: float, *, accept: bool = True) -> None:
        """Take the next message (if ``accept``) and answer only after ``delay`` seconds."""
        self._faults.append(Fault("slow", delay=delay, accept=accept))

    def drop_next(self, *, accept: bool = False) -> None:
        """Close the connection without an answer, after taking the message if ``accept``."""
        self._faults.append(Fault("drop", accept=accept))

    def block_next(self) -> Blocker:
        """Take the next message, then hold the answer until ``release()`` (or BLOCK_TIMEOUT)."""
        blocker = Blocker()
        self._blockers.append(blocker)
        self._faults.append(Fault("block", accept=True, blocker=blocker))
        return blocker

    def close_after_next(self) -> threading.Event:
        """Answer the next request, then close its connection without saying so, as a provider closes
        an idle kept-alive connection; the event is set once it is closed."""
        closed = threading.Event()
        self._faults.append(Fault("close", accept=True, closed=closed))
        return closed

    # -- provider behaviour (subclasses) ---------------------------------------------------------

    def authenticate(self, request: Received) -> Reply | None:
        raise NotImplementedError

    def reject(self, request: Received) -> Reply | None:
        """A permanent error the real API gives for this request's content, else None."""
        return None

    def accept(self, request: Received) -> tuple[dict[str, Any], Reply]:
        """Take the message: what to record and what to answer."""
        raise NotImplementedError

    def error_reply(self, status: int, message: str, *, code: int | None = None) -> Reply:
        raise NotImplementedError

    # -- request handling ------------------------------------------------------------------------

    def handle(self, request: Received) -> Reply | None:
        """The reply to send, or None to drop the connection."""
        with self._lock:
            self.requests.append(request)
            if self.spec is not None and self.check_after:
                self._unchecked.append(request)
        if self.spec is not None and not self.check_after and (problem := self._check(request)):
            return self.error_reply(400, problem)
        if (denied := self.authenticate(request)) is not None:
            return denied
        fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.kind == "status":
            reply = self.error_reply(fault.status, _STATUS_TEXT.get(fault.status, "error"))
            if fault.retry_after is not None:
                reply.headers["Retry-After"] = str(fault.retry_after)
            return reply
        if (rejected := self.reject(request)) is not None:
            return rejected
        if fault is not None and not fault.accept:
            if fault.kind == "slow":
                time.sleep(fault.delay)
                return self.error_reply(500, "internal error")
            return None  # drop without taking the message
        record, reply = self.accept(request)
        with self._lock:
            self.messages.append(record)
        if self.latency:
            time.sleep(self.latency)
        if fault is None:
            return reply
        if fault.kind == "slow":
            time.sleep(fault.delay)
        elif fault.kind == "block" and fault.blocker is not None:
            fault.blocker.received.set()
            fault.blocker._release.wait(BLOCK_TIMEOUT)
        elif fault.kind == "drop":
            return None
        elif fault.kind == "close":
            reply.close = fault.closed
        return reply

    def _check(self, request: Received) -> str | None:
        assert self.spec is not None
        problem = request_errors(self.spec, method=request.method, path=request.path, query=request.query,
                                 headers=request.headers, body=request.body)
        with self._lock:
            self.checked += 1
            if problem:
                self.spec_errors.append(problem)
        return problem


_STATUS_TEXT = {429: "too many requests", 500: "internal error", 502: "bad gateway",
                503: "service unavailable", 401: "unauthorized", 403: "forbidden"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    fake: FakeProvider


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs (the twilio client pools connections)
    # Headers and body leave in one write, without Nagle's delay: a loopback call takes ~1 ms, not 40.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        if self.server.fake.handshake:
            time.sleep(self.server.fake.handshake)

    def do_POST(self) -> None:  # noqa: N802 - the http.server naming
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client went away mid-request (killed): a server drops it
            self.close_connection = True
            return
        parts = urlsplit(self.path)
        request = Received(method=self.command, path=parts.path, query=parts.query,
                           headers=Headers(list(self.headers.items())), body=body,
                           at=dt.datetime.now(dt.UTC), peer=self.client_address[:2])
        reply = self.server.fake.handle(request)
        if reply is None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if payload:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
            request.answered_at = dt.datetime.now(dt.UTC)
        except OSError:
            self.close_connection = True  # the client gave up (timeout) or was killed
        if reply.close is not None:
            self.close_connection = True
            try:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)  # the FIN goes now, not when the handler ends
            except OSError:
                pass
            reply.close.set()

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server signature
        pass

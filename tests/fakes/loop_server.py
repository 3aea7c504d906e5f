"""A fake provider served from one asyncio event loop, for the fake's own processes in benchmarks.

The threaded ``http.server`` of the tests spends about 0.25 ms of CPU on each request (a thread per
connection, headers parsed by the e-mail package, a sleeping thread per answer held back), which on a
two-core machine is CPU the senders under test do not get. Here requests are parsed by ``httptools``
(the C parser uvicorn uses) and an answer held back by the provider's latency is a timer, not a
thread. What is received and answered is decided by the same ``FakeProvider.handle`` as in the tests;
fault injection (``fail_next`` and the like) is not offered here, since it may block.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
from collections.abc import Callable
from http import HTTPStatus
from urllib.parse import urlsplit

import httptools
from werkzeug.datastructures import Headers

from .server import FakeProvider, Received, Reply


def serve(fake: FakeProvider, *, port: int, keep_going: Callable[[], bool], every: Callable[[], None],
          started: Callable[[], None]) -> None:
    """Serve ``fake`` on 127.0.0.1:``port`` (shared with other processes: SO_REUSEPORT) until
    ``keep_going()`` is false, calling ``every()`` every 50 ms and ``started()`` once listening."""
    latency, handshake = fake.latency, fake.handshake
    fake.latency = fake.handshake = 0.0  # held back here by timers, not by ``handle`` sleeping

    async def main() -> None:
        loop = asyncio.get_running_loop()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(("127.0.0.1", port))
        server = await loop.create_server(lambda: _Connection(fake, loop, latency, handshake),
                                          sock=listener, backlog=128)
        started()
        while keep_going():
            every()
            await asyncio.sleep(0.05)
        server.close()

    asyncio.run(main())


class _Connection(asyncio.Protocol):
    def __init__(self, fake: FakeProvider, loop: asyncio.AbstractEventLoop, latency: float,
                 handshake: float) -> None:
        self.fake, self.loop, self.latency, self.handshake = fake, loop, latency, handshake
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.peer = transport.get_extra_info("peername")[:2]
        if self.handshake:  # the TCP and TLS round trips of a new connection to a distant provider
            transport.pause_reading()
            self.loop.call_later(self.handshake, self._resume)

    def _resume(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._abort()

    # httptools' callbacks, for one request at a time
    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        parts = urlsplit(self._url.decode("latin-1"))
        request = Received(method=self.parser.get_method().decode(), path=parts.path, query=parts.query,
                           headers=Headers(self._headers), body=b"".join(self._body),
                           at=dt.datetime.now(dt.UTC), peer=self.peer)
        keep_alive = self.parser.should_keep_alive()
        self._url, self._headers, self._body = b"", [], []
        reply = self.fake.handle(request)
        if reply is None:
            self._abort()
        elif self.latency:
            self.loop.call_later(self.latency, self._answer, request, reply, keep_alive)
        else:
            self._answer(request, reply, keep_alive)

    def _answer(self, request: Received, reply: Reply, keep_alive: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return  # the client went away (timeout, killed)
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        lines = [f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}",
                 *(f"{name}: {value}" for name, value in reply.headers.items())]
        if payload:
            lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(payload)}")
        if not keep_alive:
            lines.append("Connection: close")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
        request.answered_at = dt.datetime.now(dt.UTC)
        if not keep_alive:
            self.transport.close()

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

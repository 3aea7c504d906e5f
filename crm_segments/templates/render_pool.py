"""A few persistent renderer processes (``template_sandbox.py``) that every render goes through.

One request is one message (all its parts), one check, or a batch of messages (a part of the send
queue: one write and one read on the pipes instead of one of each a message), sent to an idle process
and answered in about 0.1 ms more than rendering in this process would take; the processes are started
on the first render (never at import) and live as long as this one. When a process does not answer a
moment after the time limit (for a batch too), it is killed and a fresh one is
started in its place; so is one that ran out of memory or stopped. At most ``workers`` requests run at
once; a thread that wants one more waits for the next process to come free.

A renderer is started as a new program (``subprocess``: fork and exec at once), never as a fork of
this process: nothing of this one (threads, database connections, locks) is copied into it, so it is
safe from any thread of a web server or scheduler. Every read and write on its pipes has a deadline,
so no thread waits on a renderer that froze. The pool belongs to the process that made it: a forked
child drops the pipes it inherited and makes its own, and the renderers are killed when this process
exits (they also end by themselves when their pipe closes).
"""

from __future__ import annotations

import atexit
import json
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from crm_segments.config import TemplateLimits

SANDBOX = Path(__file__).with_name("template_sandbox.py")
START_TIMEOUT = 30.0   # seconds for a new renderer to import Jinja and say it is ready
GRACE = 0.5            # seconds past the time limit before a renderer that has not answered is killed
HEADER = struct.Struct("!Q")  # each message on the pipes: its length, then its bytes


class RendererLost(Exception):
    """The renderer did not answer in time, ran out of memory, or stopped; ``message`` says which."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _NoAnswer(Exception):
    """The renderer has not answered (or taken the request) within the time."""


class _Undelivered(Exception):
    """The renderer had ended before it was given the request."""


def _wait(fd: int, event: int, deadline: float) -> None:
    poller = select.poll()  # not select(): a server's descriptors may number more than 1024
    poller.register(fd, event)
    if not poller.poll(max(deadline - time.monotonic(), 0) * 1000):
        raise _NoAnswer


def _write(fd: int, data: bytes, deadline: float) -> None:
    view = memoryview(data)
    while view:
        _wait(fd, select.POLLOUT, deadline)
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            continue


def _read(fd: int, size: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    while size:
        _wait(fd, select.POLLIN, deadline)
        try:
            chunk = os.read(fd, min(size, 1 << 20))
        except BlockingIOError:
            continue
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


class _Renderer:
    """One child process and its two pipes (non-blocking on this side)."""

    def __init__(self) -> None:
        if not sys.executable:
            raise RendererLost("the template renderer cannot start: this Python has no executable")
        from_parent, self._to_child = os.pipe()
        self._from_child, to_parent = os.pipe()
        try:
            self.process = subprocess.Popen([sys.executable, "-P", str(SANDBOX)], stdin=from_parent,
                                            stdout=to_parent, close_fds=True)
        except OSError as exc:
            os.close(self._to_child)
            os.close(self._from_child)
            raise RendererLost(f"the template renderer cannot start: {exc}") from None
        finally:
            os.close(from_parent)
            os.close(to_parent)
        os.set_blocking(self._to_child, False)
        os.set_blocking(self._from_child, False)
        self._ready = False
        self._closed = False

    def _receive(self, deadline: float, max_size: int) -> bytes:
        (size,) = HEADER.unpack(_read(self._from_child, HEADER.size, deadline))
        if size > max_size:
            raise ValueError(f"a reply of {size} bytes")
        return _read(self._from_child, size, deadline)

    def call(self, payload: bytes, *, timeout: float, max_reply: int) -> dict[str, Any]:
        """The reply to ``payload``; raises _Undelivered when the process had already ended, _NoAnswer
        after ``timeout`` seconds, RendererLost when it stopped or answered nonsense."""
        try:
            if not self._ready:
                self._receive(time.monotonic() + START_TIMEOUT, 64)
                self._ready = True
        except (_NoAnswer, EOFError, OSError, ValueError):
            raise RendererLost("the template renderer did not start (see its error output)") from None
        deadline = time.monotonic() + timeout
        try:
            _write(self._to_child, HEADER.pack(len(payload)) + payload, deadline)
        except BrokenPipeError:
            raise _Undelivered from None
        try:
            reply: dict[str, Any] = json.loads(self._receive(deadline, max_reply))
        except (EOFError, OSError, ValueError):
            raise RendererLost("the template renderer stopped while rendering") from None
        return reply

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """End the process (from any thread); its owner still closes it."""
        if self.process.poll() is None:
            self.process.kill()

    def close(self) -> None:
        """Close the pipes and end the process (at once: it may be stuck in a render)."""
        self.forget()
        self.kill()
        self.process.wait()

    def forget(self) -> None:
        """Close this side's pipes and leave the process alone (a forked child's copy of them)."""
        if not self._closed:
            self._closed = True
            for fd in (self._to_child, self._from_child):
                try:
                    os.close(fd)
                except OSError:
                    pass


class RenderPool:
    def __init__(self, size: int) -> None:
        self.size = size
        self._idle: list[_Renderer] = []
        self._all: set[_Renderer] = set()  # started and not yet closed, idle or busy
        self._starting = 0                 # renderers being started (counted against the size)
        self._busy = 0
        self._closed = False
        self._changed = threading.Condition()

    @property
    def busy(self) -> int:
        """Renders under way now."""
        return self._busy

    def pids(self) -> list[int]:
        """The process ids of the renderers, idle or busy."""
        with self._changed:
            return sorted(renderer.process.pid for renderer in self._all)

    def run(self, request: dict[str, Any], limits: TemplateLimits, *, renders: int = 1) -> dict[str, Any]:
        """Send ``request`` to an idle renderer and return its reply; raises RendererLost. A renderer
        found dead when given the request (killed while idle) is replaced and the request sent again.
        ``renders``: how many renders the request holds (a batch). A batch has the time of one render:
        its caller sends the renders of one that needed more one request each."""
        payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        max_reply = renders * (6 * (limits.max_email_bytes + limits.max_sms_chars) + 65536)  # JSON escapes
        timeout = limits.time_limit + GRACE
        for attempt in range(2):
            renderer = self._acquire()
            keep = False
            try:
                reply = renderer.call(payload, timeout=timeout, max_reply=max_reply)
                keep = not reply.get("retire")
                return reply
            except _Undelivered:
                if attempt:
                    raise RendererLost("the template renderer stopped before it could render") from None
            except _NoAnswer:
                raise RendererLost(f"rendering took longer than the limit of {limits.time_limit:g} s "
                                   "and was stopped") from None  # a batch's caller finds which render
            finally:
                self._release(renderer, keep=keep)
        raise AssertionError("unreachable")

    def warm(self) -> int:
        """Start renderers up to the pool's size now, idle, instead of on the first renders (a worker
        does once it is registered: its first batch then finds them ready). Returns how many started;
        starting one does not wait for it (it imports Jinja while this process goes on)."""
        started = 0
        while True:
            with self._changed:
                if self._closed or len(self._all) + self._starting >= self.size:
                    return started
                self._starting += 1
            try:
                renderer = _Renderer()
            finally:
                with self._changed:
                    self._starting -= 1
            with self._changed:
                self._all.add(renderer)
                self._idle.append(renderer)
                self._changed.notify()
            started += 1

    def _acquire(self) -> _Renderer:
        while True:
            with self._changed:
                while not self._idle and len(self._all) + self._starting >= self.size:
                    self._changed.wait()
                if not self._idle:
                    self._starting += 1
                    break
                renderer = self._idle.pop()
                if renderer.alive():
                    self._busy += 1
                    return renderer
                self._all.discard(renderer)  # killed while idle: reaped, and one started in its place
            renderer.close()
        try:
            renderer = _Renderer()  # outside the lock: other threads go on while it starts
        except BaseException:
            with self._changed:
                self._starting -= 1
                self._changed.notify()
            raise
        with self._changed:
            self._starting -= 1
            self._all.add(renderer)
            self._busy += 1
        return renderer

    def _release(self, renderer: _Renderer, *, keep: bool) -> None:
        with self._changed:
            self._busy -= 1
            if keep and not self._closed and len(self._all) <= self.size and renderer.alive():
                self._idle.append(renderer)
                self._changed.notify()
                return
            self._all.discard(renderer)
        renderer.close()
        with self._changed:
            self._changed.notify()

    def close(self) -> None:
        """End every renderer now: the idle ones are closed, the busy ones killed (their render fails
        and their thread closes them)."""
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._all.difference_update(idle)
            busy = list(self._all)
        for renderer in idle:
            renderer.close()
        for renderer in busy:
            renderer.kill()
        for renderer in busy:
            try:
                renderer.process.wait(timeout=5)  # reaped here too: this process may be exiting
            except subprocess.TimeoutExpired:
                pass

    def forget(self) -> None:
        """In a forked child: close the pipes copied from the parent, whose renderers these are."""
        for renderer in list(self._all):
            renderer.forget()


_lock = threading.Lock()
_pool: RenderPool | None = None
_inherited: list[RenderPool] = []  # pools a forked child got from its parent: kept, never used
_limits = TemplateLimits()


def configure(limits: TemplateLimits) -> None:
    """Set the limits of renders in this process (``init_app`` does, from the app's settings)."""
    global _limits
    with _lock:
        _limits = limits
        if _pool is not None:
            _pool.size = limits.workers


def current_limits() -> TemplateLimits:
    return _limits


def pool() -> RenderPool:
    global _pool
    with _lock:
        if _pool is None:
            _pool = RenderPool(_limits.workers)
        return _pool


@atexit.register
def _close_at_exit() -> None:
    if _pool is not None:
        _pool.close()


def _after_fork_in_child() -> None:
    global _lock, _pool
    _lock = threading.Lock()  # another thread of the parent may have held it at the fork
    if _pool is not None:
        _pool.forget()
        _inherited.append(_pool)
        _pool = None


os.register_at_fork(after_in_child=_after_fork_in_child)

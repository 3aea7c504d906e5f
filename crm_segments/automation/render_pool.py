"""A few persistent renderer processes (``template_sandbox.py``) that every render goes through.

One request is one message (all its parts) or one check, sent to an idle process and answered in
about 0.1 ms more than rendering in this process would take; the processes are started on the first
render (never at import) and live as long as this one. When a process does not answer a moment
after the time limit, it is killed and a fresh one is started in its place; so is one that ran out of
memory or stopped. At most ``workers`` renders run at once; a thread that wants one more waits for
the next process to come free, which takes at most the time limit.

The pool belongs to the process that made it: a forked child makes its own, and the processes are
ended when this one exits (they also end by themselves when their pipe closes).
"""

from __future__ import annotations

import atexit
import json
import os
import pickle
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from crm_segments.config import TemplateLimits

SANDBOX = Path(__file__).with_name("template_sandbox.py")
START_TIMEOUT = 30.0   # seconds for a new renderer to import Jinja and say it is ready
GRACE = 0.5            # seconds past the time limit before a renderer that has not answered is killed


class RendererLost(Exception):
    """The renderer did not answer in time, ran out of memory, or stopped; ``message`` says which."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _NoAnswer(Exception):
    """The renderer has not answered within the time."""


class _Renderer:
    """One child process and its two pipes."""

    def __init__(self) -> None:
        if not sys.executable:
            raise RendererLost("the template renderer cannot start: this Python has no executable")
        from_parent, to_child = os.pipe()
        from_child, to_parent = os.pipe()
        try:
            self.process = subprocess.Popen([sys.executable, "-P", str(SANDBOX)], stdin=from_parent,
                                            stdout=to_parent, close_fds=True)
        except OSError as exc:
            os.close(to_child)
            os.close(from_child)
            raise RendererLost(f"the template renderer cannot start: {exc}") from None
        finally:
            os.close(from_parent)
            os.close(to_parent)
        self._requests = Connection(to_child, readable=False)
        self._replies = Connection(from_child, writable=False)
        self._ready = False

    def _wait_until_ready(self) -> None:
        try:
            if self._replies.poll(START_TIMEOUT):
                self._replies.recv_bytes(64)
                self._ready = True
                return
        except (EOFError, OSError):
            pass
        raise RendererLost("the template renderer did not start (see its error output)")

    def call(self, payload: bytes, *, timeout: float, max_reply: int) -> dict[str, Any]:
        """The reply to ``payload``; raises _NoAnswer after ``timeout`` seconds, RendererLost when the
        process stopped or answered nonsense."""
        if not self._ready:
            self._wait_until_ready()
        try:
            self._requests.send_bytes(payload)
            if not self._replies.poll(timeout):
                raise _NoAnswer
            reply: dict[str, Any] = json.loads(self._replies.recv_bytes(max_reply))
        except (EOFError, OSError, ValueError):
            raise RendererLost("the template renderer stopped while rendering") from None
        return reply

    def close(self) -> None:
        """Close the pipes and end the process (at once: it may be stuck in a render)."""
        for conn in (self._requests, self._replies):
            try:
                conn.close()
            except OSError:
                pass
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class RenderPool:
    def __init__(self, size: int) -> None:
        self.size = size
        self._idle: list[_Renderer] = []
        self._live = 0     # started and not yet closed, idle or busy
        self._busy = 0
        self._closed = False
        self._changed = threading.Condition()

    @property
    def busy(self) -> int:
        """Renders under way now."""
        return self._busy

    def pids(self) -> list[int]:
        """The process ids of the idle renderers."""
        with self._changed:
            return [renderer.process.pid for renderer in self._idle]

    def run(self, request: dict[str, Any], limits: TemplateLimits) -> dict[str, Any]:
        """Send ``request`` to an idle renderer and return its reply; raises RendererLost."""
        payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        max_reply = 6 * (limits.max_email_bytes + limits.max_sms_chars) + 65536  # JSON escapes
        renderer = self._acquire()
        keep = False
        try:
            reply = renderer.call(payload, timeout=limits.time_limit + GRACE, max_reply=max_reply)
            keep = not reply.get("retire")
            return reply
        except _NoAnswer:
            raise RendererLost(f"rendering took longer than the limit of {limits.time_limit:g} s "
                               "and was stopped") from None
        finally:
            self._release(renderer, keep=keep)

    def _acquire(self) -> _Renderer:
        with self._changed:
            while not self._idle and self._live >= self.size:
                self._changed.wait()
            self._busy += 1
            if self._idle:
                return self._idle.pop()
            self._live += 1
        try:
            return _Renderer()
        except BaseException:
            with self._changed:
                self._live -= 1
                self._busy -= 1
                self._changed.notify()
            raise

    def _release(self, renderer: _Renderer, *, keep: bool) -> None:
        with self._changed:
            self._busy -= 1
            if keep and not self._closed and self._live <= self.size:
                self._idle.append(renderer)
                self._changed.notify()
                return
            self._live -= 1
        renderer.close()
        with self._changed:
            self._changed.notify()

    def close(self) -> None:
        """End the idle renderers now; busy ones end when their render returns."""
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._live -= len(idle)
        for renderer in idle:
            renderer.close()


_lock = threading.Lock()
_pool: RenderPool | None = None
_owner = 0                      # the process id the pool was made in
_inherited: list[RenderPool] = []  # pools a forked child got from its parent: left alone
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
    global _pool, _owner
    with _lock:
        if _pool is not None and _owner != os.getpid():
            _inherited.append(_pool)  # its processes are the parent's
            _pool = None
        if _pool is None:
            if _owner == 0:
                atexit.register(_close_at_exit)
            _pool, _owner = RenderPool(_limits.workers), os.getpid()
        return _pool


def _close_at_exit() -> None:
    if _pool is not None and _owner == os.getpid():
        _pool.close()

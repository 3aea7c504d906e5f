"""Hand messages marked ``sending`` to their channels, at most ``threads`` at once.

Provider calls wait on the network, so ``threads`` of them run at once while the dispatcher's own
thread does the database work (the pool's threads never touch the database). The dispatcher marks a
message ``sending`` only when a thread is free for it, so the pool never queues. A channel's first
message of a run is sent alone, on the caller's thread: if the provider refuses the credentials, every
message would fail alike, so the channel stops there (and is paused, see channel_pauses.py) and its
other messages are not attempted.

Each result carries the moment its answer came back: a retry's back-off and Retry-After count from it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from types import TracebackType

from crm_segments.channels import Accepted, AmbiguousError, Channel, PermanentError, SendError

from .starting import Handover


@dataclass(frozen=True)
class Result:
    handover: Handover
    accepted: Accepted | None = None
    error: SendError | None = None
    attempted: bool = True
    answered_at: dt.datetime | None = None  # when the provider's answer (or the failure) came back


def send_one(channel: Channel, handover: Handover, clock: Callable[[], dt.datetime]) -> Result:
    try:
        accepted = channel.send(handover.outgoing)
    except SendError as exc:
        return Result(handover, error=exc, answered_at=clock())
    except Exception as exc:  # unexpected, and the request may have left: never resend blindly
        return Result(handover, error=AmbiguousError(f"unexpected error: {exc!r}"), answered_at=clock())
    return Result(handover, accepted=accepted, answered_at=clock())


class SendPool:
    def __init__(self, channels: dict[str, Channel], *, threads: int,
                 clock: Callable[[], dt.datetime]) -> None:
        self.channels = channels
        self.threads = threads
        self.clock = clock
        self.stopped: set[str] = set()  # channels whose credentials were refused
        # Handed to the pool but never given to a provider, when the run was interrupted.
        self.never_sent: list[Handover] = []
        self._tried: set[str] = set()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="crm-send") if threads > 1 else None
        self._in_flight: list[tuple[Future[Result], Handover]] = []  # oldest first
        self._answer_came = threading.Condition()

    def __enter__(self) -> SendPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._pool is None:
            return
        # Interrupted: calls under way finish (their outcome is left to the claim's lease), queued
        # ones (none, as the dispatcher hands over only what the threads can take) are cancelled.
        self._pool.shutdown(wait=True, cancel_futures=exc is not None)
        self.never_sent += [handover for future, handover in self._in_flight if future.cancelled()]

    @property
    def in_flight(self) -> int:
        """Sends handed to the threads whose results have not been collected."""
        return len(self._in_flight)

    @property
    def free(self) -> int:
        return max(self.threads - len(self._in_flight), 0)

    def first_of(self, channel: str) -> bool:
        """The channel's next message is its first of the run (sent alone, on the caller's thread)."""
        return channel not in self._tried

    def submit(self, handovers: list[Handover]) -> list[Result]:
        """Start sending; returns the results known at once (sends made on this thread)."""
        done = []
        for index, handover in enumerate(handovers):
            if self._pool is None or handover.channel not in self._tried:
                self._tried.add(handover.channel)
                try:
                    done.append(self._send(handover))
                except BaseException:
                    self.never_sent += handovers[index + 1:]
                    raise
            else:
                future = self._pool.submit(self._send, handover)
                future.add_done_callback(self._answered)
                self._in_flight.append((future, handover))
        return done

    def collect(self, *, keep: int = 0) -> list[Result]:
        """The finished sends, after waiting until at most ``keep`` are still in flight."""
        if (excess := len(self._in_flight) - keep) > 0:
            wait([future for future, _ in self._in_flight[:excess]])
        return self._finished()

    def gather(self, count: int, *, within: float) -> None:
        """Wait up to ``within`` seconds until ``count`` sends have finished (or all in flight have,
        or none is)."""
        deadline = time.monotonic() + within
        with self._answer_came:
            while (finished := sum(future.done() for future, _ in self._in_flight)) < count \
                    and finished < len(self._in_flight) and (left := deadline - time.monotonic()) > 0:
                self._answer_came.wait(left)

    def _answered(self, _future: Future[Result]) -> None:
        with self._answer_came:
            self._answer_came.notify_all()

    def finished(self) -> list[Result]:
        """The sends that have finished since the last look (without waiting)."""
        return self._finished()

    def _finished(self) -> list[Result]:
        finished: list[tuple[Future[Result], Handover]] = []
        running: list[tuple[Future[Result], Handover]] = []
        for entry in self._in_flight:
            (finished if entry[0].done() else running).append(entry)
        self._in_flight = running
        return [future.result() for future, _ in finished]  # re-raises what killed a send

    def _send(self, handover: Handover) -> Result:
        if handover.channel in self.stopped:
            return Result(handover, attempted=False)
        result = send_one(self.channels[handover.channel], handover, self.clock)
        if isinstance(result.error, PermanentError) and result.error.account_problem:
            self.stopped.add(handover.channel)
        return result

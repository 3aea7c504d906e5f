"""Hand started messages to their channels, a few at a time.

Provider calls wait on the network, so ``threads`` of them run at once while the dispatcher's own
thread does the database work (the pool's threads never touch the database). A channel's first message
of a run is sent alone, on the caller's thread: if the provider refuses the credentials, every message
would fail alike, so the channel stops there (and is paused, see channel_pauses.py) and its other
messages are not attempted.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from types import TracebackType

from .channels import Accepted, AmbiguousError, Channel, PermanentError, SendError
from .starting import Handover


@dataclass(frozen=True)
class Result:
    handover: Handover
    accepted: Accepted | None = None
    error: SendError | None = None
    attempted: bool = True


def send_one(channel: Channel, handover: Handover) -> Result:
    try:
        return Result(handover, accepted=channel.send(handover.outgoing))
    except SendError as exc:
        return Result(handover, error=exc)
    except Exception as exc:  # unexpected, and the request may have left: never resend blindly
        return Result(handover, error=AmbiguousError(f"unexpected error: {exc!r}"))


class SendPool:
    def __init__(self, channels: dict[str, Channel], *, threads: int) -> None:
        self.channels = channels
        self.stopped: set[str] = set()  # channels whose credentials were refused
        # Handed to the pool but never given to a provider, when the run was interrupted.
        self.never_sent: list[Handover] = []
        self._tried: set[str] = set()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="crm-send") if threads > 1 else None
        self._in_flight: list[tuple[Future[Result], Handover]] = []  # oldest first

    def __enter__(self) -> SendPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._pool is None:
            return
        # Interrupted: calls under way finish (their outcome is left to the sending lease), queued
        # ones are cancelled and listed in never_sent.
        self._pool.shutdown(wait=True, cancel_futures=exc is not None)
        self.never_sent += [handover for future, handover in self._in_flight if future.cancelled()]

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
                self._in_flight.append((self._pool.submit(self._send, handover), handover))
        return done

    def collect(self, *, keep: int = 0) -> list[Result]:
        """The finished sends, after waiting until at most ``keep`` are still in flight."""
        if (excess := len(self._in_flight) - keep) > 0:
            wait([future for future, _ in self._in_flight[:excess]])
        finished: list[tuple[Future[Result], Handover]] = []
        running: list[tuple[Future[Result], Handover]] = []
        for entry in self._in_flight:
            (finished if entry[0].done() else running).append(entry)
        self._in_flight = running
        return [future.result() for future, _ in finished]  # re-raises what killed a send

    def _send(self, handover: Handover) -> Result:
        if handover.channel in self.stopped:
            return Result(handover, attempted=False)
        result = send_one(self.channels[handover.channel], handover)
        if isinstance(result.error, PermanentError) and result.error.account_problem:
            self.stopped.add(handover.channel)
        return result

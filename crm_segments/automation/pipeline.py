"""One dispatch run, from claimed messages to written outcomes.

The claimed messages go in waves holding at most one message per profile and channel, so a profile's
next message is checked only once the previous one's outcome is written (a refusal that withdraws
consent, Twilio 21610, stops it; the frequency cap counts what just went out). Each wave goes a part
at a time: one transaction starts the part (starting.py), the pool sends it (sending.py), and the
answers that have come back are written in one transaction (outcomes.py). The next part is started
while the previous one is being sent; at most about two parts are ``sending`` ahead of their call.

If a part cannot be started or written as a whole (one bad row), it is redone one message per
transaction, so one failing row never stops or undoes the rest.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import Protocol, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from crm_segments.config import Settings

from . import outcomes, starting
from .channels import Channel
from .claims import Claimed
from .sending import Result, SendPool
from .template_store import TemplateCache

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class Tally(Protocol):
    def add(self, outcome: str, count: int = 1) -> None: ...


class Pipeline:
    def __init__(self, session_factory: sessionmaker[Session], *, token: str, channels: dict[str, Channel],
                 settings: Settings, base_url: str, now: dt.datetime, tally: Tally, part_size: int) -> None:
        self.session_factory = session_factory
        self.token, self.channels, self.settings = token, channels, settings
        self.base_url, self.now, self.tally, self.part_size = base_url, now, tally, part_size
        self.templates = TemplateCache()
        self.refused: set[str] = set()  # channels whose credentials were refused in this run

    def run(self, claimed: list[Claimed], *, threads: int) -> list[int]:
        """Send the claimed messages; returns the ids not attempted (their channel was paused)."""
        unattempted: list[int] = []
        pool = SendPool(self.channels, threads=threads)
        try:
            with pool:
                for wave in waves(claimed):
                    for part in batched(wave, self.part_size):
                        held = [item.id for item in part if item.channel in pool.stopped]
                        if held:
                            unattempted += held
                            self.tally.add("paused", len(held))
                        self._start([item for item in part if item.channel not in pool.stopped], pool)
                    self._record(pool.collect())
        except BaseException:
            self._give_back(pool)  # after the pool has cancelled what it had not started
            raise
        self.refused = set(pool.stopped)
        return unattempted

    def _start(self, items: list[Claimed], pool: SendPool) -> None:
        def start(items: Sequence[Claimed]) -> list[starting.Started]:
            return [starting.start(self.session_factory, items, token=self.token, channels=self.channels,
                                   settings=self.settings, base_url=self.base_url, now=self.now,
                                   templates=self.templates)]

        for started in self._in_parts(start, items, what="message"):
            for outcome in started.outcomes:
                self.tally.add(outcome)
            done = pool.submit(started.handovers)
            self._record(done + pool.collect(keep=self.part_size))

    def _record(self, results: Sequence[Result]) -> None:
        def record(results: Sequence[Result]) -> list[str]:
            return outcomes.record(self.session_factory, results, now=self.now)

        for outcome in self._in_parts(record, results, what="outcome of message"):
            # Only a paused channel leaves messages unattempted: they wait with it.
            self.tally.add("paused" if outcome == "not_attempted" else outcome)

    def _give_back(self, pool: SendPool) -> None:
        """Interrupted: messages started but never given to a provider go back to pending (best
        effort; if this fails too they become unknown after the sending lease, never sent twice)."""
        if not pool.never_sent:
            return
        try:
            outcomes.record(self.session_factory, [Result(h, attempted=False) for h in pool.never_sent],
                            now=self.now)
        except Exception:  # noqa: BLE001 - the interruption is what the caller must see
            log.exception("messages %s could not be put back to pending", [h.id for h in pool.never_sent])

    def _in_parts(self, run: Callable[[Sequence[T]], list[R]], items: Sequence[T], *, what: str) -> list[R]:
        """``run`` on all items in one go; if that fails, on each item alone, so one bad row fails alone.

        An item that fails alone is logged and counted as an error: a message not started keeps its
        claim (a run after the claim's lease retries it); an outcome not written leaves the message
        ``sending``, which becomes ``unknown`` after the lease and is never sent again."""
        if not items:
            return []
        try:
            return run(items)
        except Exception:  # noqa: BLE001 - redone one by one below, where the failure is pinned down
            if len(items) == 1:
                log.exception("%s %s could not be dispatched", what, _message_id(items[0]))
                self.tally.add("error")
                return []
            log.warning("a part of %s messages failed; redoing it one by one", len(items), exc_info=True)
        done: list[R] = []
        for item in items:
            done += self._in_parts(run, [item], what=what)
        return done


def waves(claimed: list[Claimed]) -> Iterator[list[Claimed]]:
    """The claimed messages in waves holding at most one message per profile and channel, in order."""
    rest = claimed
    while rest:
        seen: set[tuple[int, str]] = set()
        wave: list[Claimed] = []
        later: list[Claimed] = []
        for item in rest:
            key = (item.profile_id, item.channel)
            (later if key in seen else wave).append(item)
            seen.add(key)
        yield wave
        rest = later


def batched(items: Sequence[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while part := list(islice(iterator, size)):
        yield part


def _message_id(item: object) -> object:
    handover = getattr(item, "handover", item)
    return getattr(handover, "id", item)

"""One dispatch run, from claimed messages to written outcomes.

The claimed messages go in waves holding at most one message per profile and channel, so a profile's
next message is checked only once the previous one's outcome is written (a refusal that withdraws
consent, Twilio 21610, stops it; the frequency cap counts what just went out). In a wave, a part at a
time is checked and stored in one transaction (``starting.prepare``) ahead of the sends; then, each time
answers come back or send threads are free, one short transaction writes the answers (outcomes.py) and
marks as many prepared messages ``sending`` as there are free threads (``starting.mark_sending``), which
are then handed over (sending.py). So at most ``threads`` messages are ``sending`` at any moment: what a
hard kill can leave in doubt.

While it runs, the dispatcher renews its claims every third of the lease (claims.renew), waiting for
answers at most that long at a time.

If a part cannot be prepared, marked or written as a whole (one bad row), it is redone one message per
transaction, so one failing row never stops or undoes the rest.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import Protocol, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from crm_segments.channels import Channel
from crm_segments.config import Settings
from crm_segments.templates.template_store import TemplateCache

from . import claims, outcomes, starting
from .claims import Claimed
from .sending import Result, SendPool
from .starting import Handover

log = logging.getLogger(__name__)

# Once an answer is back, the answers of a few milliseconds more are waited for, up to an eighth of the
# threads: written (and as many messages marked) in one transaction rather than one each. Two workers
# at 50 ms: 0.38 instead of 0.42 ms of PostgreSQL CPU and 1.6 instead of 1.75 ms of worker CPU a message.
GATHER_SECONDS = 0.005
GATHER_SHARE = 8

T = TypeVar("T")
R = TypeVar("R")


class Tally(Protocol):
    def add(self, outcome: str, count: int = 1) -> None: ...


class RunClock:
    """The run's time: ``start`` plus the seconds elapsed since (a run may be given a ``now`` of its
    own; outcomes, claims and retries are timed from it as the run goes on)."""

    def __init__(self, start: dt.datetime) -> None:
        self.start = start
        self._started = time.monotonic()

    def __call__(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=time.monotonic() - self._started)


class Pipeline:
    def __init__(self, session_factory: sessionmaker[Session], *, token: str, channels: dict[str, Channel],
                 settings: Settings, base_url: str, clock: RunClock, tally: Tally, part_size: int,
                 lease: dt.timedelta) -> None:
        self.session_factory = session_factory
        self.token, self.channels, self.settings = token, channels, settings
        self.base_url, self.clock, self.tally, self.part_size = base_url, clock, tally, part_size
        self.lease = lease
        self.templates = TemplateCache()
        self.refused: set[str] = set()  # channels whose credentials were refused in this run
        self._held: list[int] = []      # the claimed ids, renewed while the run lasts
        self._answered: list[Result] = []  # answers not written yet
        self._renewed = time.monotonic()

    def run(self, claimed: list[Claimed], *, threads: int) -> list[int]:
        """Send the claimed messages; returns the ids not attempted (their channel was paused)."""
        self._held = [item.id for item in claimed]
        unattempted: list[int] = []
        ready: deque[Handover] = deque()  # prepared, not marked sending yet
        pool = SendPool(self.channels, threads=threads, clock=self.clock)
        try:
            with pool:
                for wave in waves(claimed):
                    unattempted += self._send_wave(wave, pool, ready)
        except BaseException:
            self._give_back(pool, ready)  # after the pool has let the calls under way finish
            raise
        self.refused = set(pool.stopped)
        return unattempted

    def _send_wave(self, wave: list[Claimed], pool: SendPool, ready: deque[Handover]) -> list[int]:
        unattempted: list[int] = []
        parts = batched(wave, self.part_size)
        more = True
        while True:
            self._keep_claims()
            if more and len(ready) < pool.threads:  # keep the next messages checked ahead of the threads
                part = next(parts, None)
                if part is None:
                    more = False
                    continue
                if held := [item.id for item in part if item.channel in pool.stopped]:
                    unattempted += held
                    self.tally.add("paused", len(held))
                ready.extend(self._prepare([item for item in part if item.channel not in pool.stopped]))
                continue
            self._answered += pool.finished()
            if pool.stopped and (held_back := [h for h in ready if h.channel in pool.stopped]):
                unattempted += [h.id for h in held_back]
                self.tally.add("paused", len(held_back))
                _drop(ready, held_back)
            group = _take(ready, pool)
            if self._answered or group:
                # The answers are written, and the next group marked, in one transaction: the rows
                # ``sending`` are never more than the threads.
                answered, self._answered = self._answered, []
                marked = self._write_and_mark(answered, group)
                self._answered = pool.submit(marked)  # the first of a channel, or with one thread, sent here
                continue
            if not pool.in_flight:
                return unattempted
            pool.gather(1, within=self._renewal_interval())
            # The answers of the next moments are written, and as many messages marked, with this one.
            pool.gather(max(1, pool.threads // GATHER_SHARE), within=GATHER_SECONDS)

    def _prepare(self, items: list[Claimed]) -> list[Handover]:
        def prepare(items: Sequence[Claimed]) -> list[starting.Started]:
            return [starting.prepare(self.session_factory, items, token=self.token, channels=self.channels,
                                     settings=self.settings, base_url=self.base_url, now=self.clock(),
                                     templates=self.templates)]

        prepared: list[Handover] = []
        for started in self._in_parts(prepare, items, what="message"):
            for outcome in started.outcomes:
                self.tally.add(outcome)
            prepared += started.handovers
        return prepared

    def _write_and_mark(self, answered: list[Result], group: list[Handover]) -> list[Handover]:
        """Write ``answered`` and mark ``group`` sending; returns the handovers to send now."""
        try:
            with self.session_factory() as session, session.begin():
                written = outcomes.write(session, answered, now=self.clock(), token=self.token)
                marked = self._mark(session, group)
        except Exception:  # noqa: BLE001 - redone apart, and one by one, where the failure is pinned down
            log.warning("writing %s answers and marking %s messages failed; redoing them apart",
                        len(answered), len(group), exc_info=True)
            self._record(answered)
            return self._mark_apart(group)
        self._count(written)
        for outcome in marked.outcomes:
            self.tally.add(outcome)
        return marked.handovers

    def _mark(self, session: Session, group: Sequence[Handover]) -> starting.Started:
        return starting.mark_sending(session, group, token=self.token, settings=self.settings,
                                     now=self.clock(), lease=self.lease)

    def _mark_apart(self, group: list[Handover]) -> list[Handover]:
        def mark(group: Sequence[Handover]) -> list[starting.Started]:
            with self.session_factory() as session, session.begin():
                return [self._mark(session, group)]

        handovers: list[Handover] = []
        for marked in self._in_parts(mark, group, what="message"):
            for outcome in marked.outcomes:
                self.tally.add(outcome)
            handovers += marked.handovers
        return handovers

    def _record(self, results: Sequence[Result]) -> None:
        def record(results: Sequence[Result]) -> list[str]:
            return outcomes.record(self.session_factory, results, now=self.clock(), token=self.token)

        self._count(self._in_parts(record, results, what="outcome of message"))

    def _count(self, written: list[str]) -> None:
        for outcome in written:
            # Only a paused channel leaves messages unattempted: they wait with it.
            self.tally.add("paused" if outcome == "not_attempted" else outcome)

    def _renewal_interval(self) -> float:
        return self.lease.total_seconds() / 3

    def _keep_claims(self) -> None:
        if time.monotonic() - self._renewed < self._renewal_interval():
            return
        self._renewed = time.monotonic()
        try:
            claims.renew(self.session_factory, token=self.token, ids=self._held,
                         until=self.clock() + self.lease)
        except Exception:  # noqa: BLE001 - a missed renewal is retried; a lapsed claim is only taken over
            log.warning("the claims could not be renewed", exc_info=True)

    def _give_back(self, pool: SendPool, ready: deque[Handover]) -> None:
        """Interrupted: the answers that came back are written, messages marked but never given to a
        provider go back to pending, and prepared ones lose the claim (best effort; if this fails too,
        they become unknown, or claimable, once the claim runs out, never sent twice)."""
        try:
            answered = [*self._answered, *pool.finished(),
                        *(Result(h, attempted=False) for h in pool.never_sent)]
            if answered:
                outcomes.record(self.session_factory, answered, now=self.clock(), token=self.token)
            claims.release(self.session_factory, token=self.token, ids=[h.id for h in ready])
        except Exception:  # noqa: BLE001 - the interruption is what the caller must see
            log.exception("messages %s could not be put back to pending",
                          [h.id for h in [*pool.never_sent, *ready]])

    def _in_parts(self, run: Callable[[Sequence[T]], list[R]], items: Sequence[T], *, what: str) -> list[R]:
        """``run`` on all items in one go; if that fails, on each item alone, so one bad row fails alone.

        An item that fails alone is logged and counted as an error: a message not prepared or marked
        keeps its claim until the run ends (a run after the claim's lease retries it); an outcome not
        written leaves the message ``sending``, which becomes ``unknown`` once its claim runs out and
        is never sent again."""
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


def _take(ready: deque[Handover], pool: SendPool) -> list[Handover]:
    """The next group to hand over: as many as the free threads take; a channel's first message of the
    run alone (it is sent on the caller's thread, see sending.py)."""
    group: list[Handover] = []
    while ready and len(group) < pool.free:
        if pool.first_of(ready[0].channel):
            return group or [ready.popleft()]
        group.append(ready.popleft())
    return group


def _drop(ready: deque[Handover], dropped: list[Handover]) -> None:
    ids = {h.id for h in dropped}
    kept = [h for h in ready if h.id not in ids]
    ready.clear()
    ready.extend(kept)


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

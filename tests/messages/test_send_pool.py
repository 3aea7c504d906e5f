"""The send pool gathers answers: once one is back it waits a few milliseconds for more, so that they
are written in one transaction, but never for sends that are still under way past its window."""

from __future__ import annotations

import datetime as dt
import threading
import time

from crm_segments.channels import Accepted
from crm_segments.channels.base import Outgoing
from crm_segments.messages.sending import SendPool
from crm_segments.messages.starting import Handover


class HeldChannel:
    """Answers each message only once the test releases it."""

    provider = "local"
    idempotent = True

    def __init__(self) -> None:
        self.release = {n: threading.Event() for n in range(1, 9)}

    def send(self, message: Outgoing) -> Accepted:
        self.release[message.message_id].wait(10)
        return Accepted(f"m{message.message_id}")


def handover(n: int) -> Handover:
    return Handover(id=n, profile_id=n, channel="email", category="marketing", attempts=1,
                    outgoing=Outgoing(message_id=n, channel="email", to=f"p{n}@example.com", text_body="x"),
                    provider="local")


def started_pool(channel: HeldChannel) -> SendPool:
    pool = SendPool({"email": channel}, threads=8, clock=lambda: dt.datetime.now(dt.UTC))
    channel.release[1].set()
    assert len(pool.submit([handover(1)])) == 1  # a channel's first message goes alone, on this thread
    pool.submit([handover(n) for n in range(2, 9)])
    return pool


def test_gather_returns_once_enough_answers_are_back() -> None:
    channel = HeldChannel()
    with started_pool(channel) as pool:
        for n in (2, 3, 4):
            channel.release[n].set()
        started = time.monotonic()
        pool.gather(3, within=5.0)
        assert time.monotonic() - started < 2.5  # woken by the answers, not by the window
        assert sorted(r.handover.id for r in pool.finished()) == [2, 3, 4]
        for event in channel.release.values():
            event.set()


def test_gather_waits_no_longer_than_its_window() -> None:
    channel = HeldChannel()
    with started_pool(channel) as pool:
        channel.release[2].set()
        started = time.monotonic()
        pool.gather(4, within=0.2)
        waited = time.monotonic() - started
        assert 0.2 <= waited < 2.0
        assert [r.handover.id for r in pool.finished()] == [2]
        for event in channel.release.values():
            event.set()
        pool.gather(100, within=5.0)  # all in flight are back: no wait for answers that cannot come
        assert len(pool.finished()) == 6

"""A sender killed with SIGKILL again and again during a run, on PostgreSQL: nothing is sent twice or
lost, a kill leaves at most as many messages in doubt as there are send threads, the dead sender's
claims are taken over within the claim's lease, and every message is settled soon after the last
restart: the in-doubt ones by SendGrid's events (their custom args carry the message id) or, with no
event, sent again by a person once unconfirmed.

Small and fast: a few hundred messages, 3 kills, a 2 s lease, a loopback fake with 429s (Retry-After)
and 503s (back-off) mixed in, and around each kill a few requests held and then refused untaken (what
a kill during a call to a provider that took nothing looks like).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import crm_segments.models  # noqa: F401  (fills Base.metadata)
from crm_segments.db import utcnow
from crm_segments.delivery.sendgrid_events import record_sendgrid_events
from crm_segments.messages import unconfirmed
from crm_segments.messages.message_log import MessageFilter
from crm_segments.models import Message
from tests.fakes import FakeSendGrid
from tests.fakes.webhooks import sendgrid_event
from tests.messages.queued_emails import private_postgres_factory, queue_welcome_emails

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]
MESSAGES = 300
THREADS = 4
LEASE = 2.0              # seconds: claims renewed every 0.67 s
UNCONFIRMED_AFTER = 3.0  # seconds an unknown message waits for an event
BACK_OFF = 0.5           # the first retry's back-off
KILLS = 3
FINAL_WITHIN = 60.0      # seconds after the last restart


@pytest.fixture
def factory() -> Iterator[sessionmaker[Session]]:
    with private_postgres_factory() as made:
        yield made


def _statuses(factory: sessionmaker[Session]) -> Counter[str]:
    with factory() as session:
        counts = session.execute(select(Message.status, func.count()).group_by(Message.status)).all()
    return Counter(dict(counts))


def _sending(factory: sessionmaker[Session]) -> set[int]:
    with factory() as session:
        return set(session.scalars(select(Message.id).where(Message.status == "sending")))


def _wait(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.02)


def kill_target(kill: int) -> int:
    """How many messages SendGrid has taken when the sender is killed the ``kill``-th time."""
    return (kill + 1) * MESSAGES // (KILLS + 1)


def _sent_ids(fake: FakeSendGrid) -> Counter[int]:
    return Counter(int(fake.custom_args(m)["crm_message_id"]) for m in list(fake.messages))


def test_kill_9_during_a_run_sends_each_message_once_and_settles_all_soon_after(
        factory: sessionmaker[Session], tmp_path: Path) -> None:
    ids = queue_welcome_emails(factory, MESSAGES, key="crash")
    database_url = factory.kw["bind"].url.render_as_string(hide_password=False)
    fake = FakeSendGrid()
    fake.latency = 0.03  # calls under way at every moment: a kill catches some
    for n in range(0, MESSAGES, 10):
        fake.fail_address(f"k{n}@example.com", 429, retry_after=1)
        fake.fail_address(f"k{n + 5}@example.com", 503)
    for kill in range(KILLS):
        # Held, then refused untaken: killed meanwhile, their senders never learn SendGrid took nothing.
        for n in kill_target(kill) - 2, kill_target(kill) - 1:
            fake.fail_address(f"k{n}@example.com", 503, delay=1.5)

    log = tmp_path / "senders.log"  # a file: a pipe nobody reads while they run could fill and block them

    def start() -> subprocess.Popen[bytes]:
        with log.open("ab") as errors:
            return subprocess.Popen(
                [sys.executable, "-m", "tests.messages.send_loop_process", database_url, fake.url,
                 fake.api_key, str(THREADS), str(LEASE), str(UNCONFIRMED_AFTER), str(BACK_OFF)],
                cwd=REPO, stdout=subprocess.DEVNULL, stderr=errors)

    in_doubt_per_kill: list[int] = []
    left_in_doubt: set[int] = set()  # sending when a sender was killed
    senders: list[subprocess.Popen[bytes]] = []
    with fake:
        try:
            for kill in range(KILLS):
                senders.append(start())
                target = kill_target(kill)
                _wait(lambda: len(fake.messages) >= target, timeout=30,  # noqa: B023 - called at once
                      what=f"{target} messages accepted")
                os.kill(senders[-1].pid, signal.SIGKILL)
                senders[-1].wait(timeout=10)
                assert senders[-1].returncode == -signal.SIGKILL
                # A row still sending from an earlier kill (its claim not run out yet) is not this kill's.
                in_doubt_now = _sending(factory) - left_in_doubt
                in_doubt_per_kill.append(len(in_doubt_now))
                left_in_doubt |= in_doubt_now
            senders.append(start())
            restarted = time.monotonic()

            # Every message leaves pending and sending: the dead senders' claims are taken over and
            # their sending rows become unknown once the claims run out.
            _wait(lambda: not (_statuses(factory).keys() & {"pending", "sending"}), timeout=FINAL_WITHIN,
                  what="every message sent, failed or in doubt")
            doubtful = ("unknown", "unconfirmed")  # no event came yet, for a while already: unconfirmed
            in_doubt = sum(_statuses(factory)[status] for status in doubtful)
            # SendGrid's events settle those the provider took...
            events = [sendgrid_event(m, "processed") for m in list(fake.messages)]
            with factory() as session, session.begin():
                record_sendgrid_events(session, events, now=utcnow())
            settled = in_doubt - sum(_statuses(factory)[status] for status in doubtful)
            # ...and a person sends again those no event confirmed, once they are unconfirmed.
            _wait(lambda: _statuses(factory)["unknown"] == 0, timeout=FINAL_WITHIN,
                  what="unknown -> unconfirmed")
            with factory() as session, session.begin():
                requeued = unconfirmed.send_again(session, filters=MessageFilter(), actor="an admin",
                                                  now=utcnow())
            _wait(lambda: _statuses(factory) == Counter(sent=MESSAGES), timeout=FINAL_WITHIN,
                  what="every message sent")
            final_after = time.monotonic() - restarted
        finally:
            for sender in senders:
                if sender.poll() is None:
                    sender.kill()
                    sender.wait(timeout=10)

    errors = log.read_text(errors="replace")
    assert "Traceback" not in errors, errors[-3000:]
    assert _sent_ids(fake) == Counter(ids)  # 0 duplicates, 0 lost
    assert all(n <= THREADS for n in in_doubt_per_kill), in_doubt_per_kill
    assert sum(in_doubt_per_kill) >= 1  # the kills came while calls were under way
    assert in_doubt == len(left_in_doubt) == sum(in_doubt_per_kill) and settled + requeued == in_doubt
    assert requeued >= 1  # some never reached SendGrid: no event came, a person sent them again
    assert final_after < FINAL_WITHIN
    retried = [r for r in fake.requests if r.answered_at is not None]
    assert len(fake.requests) > MESSAGES and retried  # the 429s and 503s were retried
    print(f"in doubt per kill {in_doubt_per_kill}, settled by events {settled}, sent again {requeued}, "
          f"all final {final_after:.1f} s after the last restart")

"""Sending after a crash: a sender process killed with SIGKILL again and again during a run.

    python -m benchmarks.run send-kill-9 --profiles 5000

N profiles (``--profiles``) each have one marketing email queued, due at the start. One sender process
(``tests/automation/send_loop_process.py``: the send job's loop, batches of 500, 8 send threads, the
default 30 s claim lease) sends them to a fake SendGrid 20 ms away that answers a tenth of the first
attempts with 429 and ``Retry-After: 40`` and a tenth with 503 (the 30 s back-off). Every few seconds
the sender is killed with SIGKILL and started again at once. Measured: the messages each kill left in
doubt (``sending``), how long the dead sender's other claimed messages waited before another sender
took them over, how long after the last restart every message was final, retries that came before
Retry-After or the back-off (by the fake's clock: when it answered, when the retry arrived), and each
message's copies at the fake. The in-doubt messages are then settled: SendGrid's events for those it
took, and "send again" for those still unconfirmed (after 10 s here, 24 h by default).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update

from benchmarks.context import BenchContext
from benchmarks.registry import scenario
from crm_segments.db import make_session_factory, utcnow
from crm_segments.models import Message, Profile

REPO = Path(__file__).resolve().parents[2]
NOT_YET = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
THREADS = 8
LEASE = 30.0             # the default CRM_SEGMENTS_CLAIM_LEASE
BACK_OFF = 30.0          # the default first back-off
RETRY_AFTER = 40
UNCONFIRMED_AFTER = 10.0
BATCH = 500
LATENCY = 0.02
KILLS = 10
KILL_EVERY = 2.5         # seconds between kills
FAULT_SHARE = 10         # one message in FAULT_SHARE gets a 429, one in FAULT_SHARE a 503
TIMEOUT = 300.0


def _last_accepted(fake: Any, since: float) -> float:
    """Seconds from ``since`` (monotonic) to the last request the fake answered, by its wall clock."""
    answered = [r.answered_at for r in fake.requests if r.answered_at is not None]
    offset = time.time() - time.monotonic()
    return round(max(answered).timestamp() - (since + offset), 1) if answered else 0.0


def _prepare(context: BenchContext) -> None:
    now = utcnow()
    with make_session_factory(context.engine)() as session:
        for start in range(0, context.profiles, 10_000):
            count = min(10_000, context.profiles - start)
            ids = session.scalars(insert(Profile).returning(Profile.id), [
                {"external_id": f"kill-{i}", "first_name": f"Kim{i}", "email": f"kill{i}@example.com",
                 "email_consent": True, "time_zone": "UTC", "created_at": now, "updated_at": now}
                for i in range(start, start + count)]).all()
            session.execute(insert(Message), [
                {"dedupe_key": f"bench-kill:{profile_id}", "profile_id": profile_id, "channel": "email",
                 "category": "marketing", "template_key": "evergreen/welcome", "context": {},
                 "status": "pending", "attempts": 0, "next_attempt_at": NOT_YET, "created_at": now,
                 "updated_at": now} for profile_id in ids])
        session.commit()


@scenario("send-kill-9", "a sender killed with SIGKILL every few seconds: in doubt, takeover, duplicates",
          prepare=_prepare)
def send_kill_9(context: BenchContext) -> dict[str, Any]:
    from crm_segments.automation import unconfirmed
    from crm_segments.automation.message_log import MessageFilter
    from crm_segments.automation.sendgrid_events import record_sendgrid_events
    from tests.fakes import FakeSendGrid
    from tests.fakes.webhooks import sendgrid_event

    factory = make_session_factory(context.engine)
    expected = context.profiles
    fake = FakeSendGrid(check_after=True)
    fake.latency = LATENCY
    waits: dict[str, float] = {}
    for i in range(0, expected, FAULT_SHARE):
        fake.fail_address(f"kill{i}@example.com", 429, retry_after=RETRY_AFTER)
        waits[f"kill{i}@example.com"] = RETRY_AFTER
        if i + 1 < expected:
            fake.fail_address(f"kill{i + 1}@example.com", 503)
            waits[f"kill{i + 1}@example.com"] = BACK_OFF

    def statuses() -> Counter[str]:
        with factory() as session:
            return Counter(dict(session.execute(
                select(Message.status, func.count()).group_by(Message.status)).all()))

    log = tempfile.TemporaryFile()  # the senders' stderr (a pipe nobody reads would fill and block them)

    def start(url: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.automation.send_loop_process", context.database_url, url,
             fake.api_key, str(THREADS), str(LEASE), str(UNCONFIRMED_AFTER), str(BACK_OFF), str(BATCH)],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=log)

    in_doubt_per_kill: list[int] = []
    takeovers: list[float] = []
    waiting: list[tuple[float, set[str]]] = []  # per kill: when, the dead sender's claim tokens
    left_in_doubt: set[int] = set()
    senders: list[subprocess.Popen[bytes]] = []

    def look_at_takeovers() -> None:
        with factory() as session:
            for entry in list(waiting):
                killed_at, tokens = entry
                if not session.scalar(select(func.count()).select_from(Message).where(
                        Message.claim_token.in_(tokens), Message.status == "pending")):
                    takeovers.append(time.monotonic() - killed_at)
                    waiting.remove(entry)

    with fake:
        with factory() as session:
            session.execute(update(Message).values(next_attempt_at=utcnow()))
            session.commit()
        started = time.monotonic()
        try:
            senders.append(start(fake.url))
            for _ in range(KILLS):
                deadline = time.monotonic() + KILL_EVERY
                while time.monotonic() < deadline:
                    look_at_takeovers()
                    time.sleep(0.1)
                os.kill(senders[-1].pid, signal.SIGKILL)
                senders[-1].wait(timeout=10)
                killed_at = time.monotonic()
                with factory() as session:
                    sending = set(session.scalars(select(Message.id).where(Message.status == "sending")))
                    tokens = set(session.scalars(select(Message.claim_token).distinct().where(
                        Message.status == "pending", Message.claim_token.is_not(None))))
                in_doubt_per_kill.append(len(sending - left_in_doubt))
                left_in_doubt |= sending
                if tokens:
                    waiting.append((killed_at, {t for t in tokens if t}))
                senders.append(start(fake.url))
            restarted = time.monotonic()
            left_at_restart = statuses()["pending"] + statuses()["sending"]
            while statuses().keys() & {"pending", "sending"}:
                look_at_takeovers()
                if time.monotonic() - started > TIMEOUT:
                    raise AssertionError(f"not all sent or in doubt after {TIMEOUT} s: {statuses()}")
                time.sleep(0.1)
            look_at_takeovers()
            drained_after_restart = time.monotonic() - restarted  # nothing pending or sending
            in_doubt = statuses()["unknown"] + statuses()["unconfirmed"]
            events = [sendgrid_event(m, "processed") for m in list(fake.messages)]
            with factory() as session, session.begin():
                record_sendgrid_events(session, events, now=utcnow())
            settled = in_doubt - statuses()["unknown"] - statuses()["unconfirmed"]
            while statuses()["unknown"]:
                time.sleep(0.2)
            unconfirmed_after_restart = time.monotonic() - restarted
            with factory() as session, session.begin():
                sent_again = unconfirmed.send_again(session, filters=MessageFilter(), actor="bench",
                                                    now=utcnow())
            while statuses() != Counter(sent=expected):
                if time.monotonic() - started > TIMEOUT:
                    raise AssertionError(f"not all sent after {TIMEOUT} s: {statuses()}")
                time.sleep(0.1)
            final_after_restart = time.monotonic() - restarted
        finally:
            for sender in senders:
                if sender.poll() is None:
                    sender.kill()
                    sender.wait(timeout=10)
        log.seek(0)
        errors = log.read()
        log.close()
    copies = Counter(int(fake.custom_args(m)["crm_message_id"]) for m in fake.messages)
    by_address: dict[str, list[Any]] = defaultdict(list)
    for request in fake.requests:
        by_address[request.json()["personalizations"][0]["to"][0]["email"]].append(request)
    early = []  # seconds each retry came after what was asked (negative: too early)
    for address, wait in waits.items():
        refused, *retries = by_address[address]
        in_doubt_there = int(fake.custom_args(refused.json())["crm_message_id"]) in left_in_doubt
        if retries and refused.answered_at is not None and not in_doubt_there:  # a person's re-send
            early.append((retries[0].at - refused.answered_at).total_seconds() - wait)
    if b"Traceback" in errors:
        raise AssertionError(errors.decode(errors="replace")[-3000:])
    if fake.spec_errors:
        raise AssertionError(f"requests outside SendGrid's definition: {fake.spec_errors[:3]}")
    return {"messages": expected, "kills": KILLS, "send_threads": THREADS, "claim_lease_seconds": LEASE,
            "in_doubt_per_kill": in_doubt_per_kill, "in_doubt_max": max(in_doubt_per_kill),
            "in_doubt_total": sum(in_doubt_per_kill), "settled_by_events": settled,
            "sent_again": sent_again,
            "takeover_seconds_max": round(max(takeovers), 1) if takeovers else None,
            "takeovers": len(takeovers),
            "final_seconds_after_last_restart": round(final_after_restart, 1),
            "pending_at_last_restart": left_at_restart,
            "drained_seconds_after_last_restart": round(drained_after_restart, 1),
            "all_unconfirmed_seconds_after_last_restart": round(unconfirmed_after_restart, 1),
            "last_accepted_before_settling": _last_accepted(fake, restarted),
            "duplicates": sum(n - 1 for n in copies.values() if n > 1),
            "lost": expected - len(copies), "retries_checked": len(early),
            "retries_early": sum(1 for e in early if e < 0),
            "shortest_wait_over_the_asked_seconds": round(min(early), 2) if early else None,
            "requests": len(fake.requests), "statuses": dict(statuses())}

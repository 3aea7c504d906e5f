"""Sending after a crash: senders killed with SIGKILL again and again during a run.

    python -m benchmarks.run send-kill-9-workers send-kill-9-workers-faults --profiles 10000
    python -m benchmarks.run send-kill-9 --profiles 5000

``send-kill-9-workers`` (and ``-faults``): two ``crm-segments worker`` processes, as a deployment runs
them, send N emails to a fake SendGrid 20 ms away; 20 times, at a random count of accepted messages,
one registered worker chosen at random is killed with SIGKILL and another started in its place
(tests/messages/worker_kills.py). Measured per kill: how long until another sender took the dead one
over, and how many of its messages became ``unknown``. Then, each from the last restart: nothing
pending or sending (drained); every message final, i.e. sent or ``unconfirmed`` (the unknown ones
waiting for a person after 10 s here, 24 h by default); SendGrid's events for every message it took,
recorded in one request (timed on their own: in life they come during the run) and settling the
unconfirmed ones it did take; and every message sent once a person sent the others again. ``-faults``
adds 2 % 429 with ``Retry-After: 40`` and 2 % 503 (the 30 s back-off) on first attempts.

``send-kill-9`` (below): one sender that is no registered worker (the send job's loop), whose claims
are taken over when their lease runs out.

N profiles (``--profiles``) each have one marketing email queued, due at the start. One sender process
(``tests/messages/send_loop_process.py``: the send job's loop, batches of 500, 8 send threads, the
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
    from crm_segments.delivery.sendgrid_events import record_sendgrid_events
    from crm_segments.messages import unconfirmed
    from crm_segments.messages.message_log import MessageFilter
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
            [sys.executable, "-m", "tests.messages.send_loop_process", context.database_url, url,
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


WORKERS = 2
WORKER_KILLS = 20
WORKER_UNCONFIRMED_AFTER = 10  # seconds an unknown message waits for an event (24 h by default)
WORKER_FAULT_SHARE = 50        # with faults: one message in 50 gets a 429, one in 50 a 503
WORKER_TIMEOUT = 900.0


def _register_worker_kills(name: str, *, faults: bool) -> None:
    description = ("`crm-segments worker` processes, one killed with SIGKILL 20 times during the run, "
                   + ("2 % 429 (Retry-After 40) and 2 % 503 injected" if faults else "no provider faults"))

    @scenario(name, description, prepare=_prepare)
    def run(context: BenchContext) -> dict[str, Any]:
        return _kill_workers(context, faults=faults)


def _kill_workers(context: BenchContext, *, faults: bool) -> dict[str, Any]:
    """Two workers (default settings: 64 send threads, 2 lanes, batches of 500, the 30 s claim lease) send
    to a fake SendGrid 20 ms away; 20 times, when the fake has accepted a random count of messages, one
    registered worker chosen at random is killed with SIGKILL and another started in its place."""
    import random

    from crm_segments.delivery.sendgrid_events import record_sendgrid_events
    from crm_segments.messages import unconfirmed
    from crm_segments.messages.message_log import MessageFilter
    from tests.fakes import FakeSendGrid
    from tests.fakes.webhooks import sendgrid_event
    from tests.messages.worker_kills import IN_DOUBT, Workers, statuses, wait_for

    factory = make_session_factory(context.engine)
    expected = context.profiles
    fake = FakeSendGrid(check_after=True)
    fake.latency = LATENCY
    waits: dict[str, float] = {}
    if faults:
        for i in range(0, expected, WORKER_FAULT_SHARE):
            fake.fail_address(f"kill{i}@example.com", 429, retry_after=RETRY_AFTER)
            waits[f"kill{i}@example.com"] = RETRY_AFTER
            if i + 1 < expected:
                fake.fail_address(f"kill{i + 1}@example.com", 503)
                waits[f"kill{i + 1}@example.com"] = BACK_OFF
    rng = random.Random(context.seed)
    targets = sorted(rng.sample(range(expected // 50, expected * 9 // 10), WORKER_KILLS))
    with fake, tempfile.TemporaryFile() as log, tempfile.TemporaryDirectory(prefix="crm-bench-") as instance:
        env = {"DATABASE_URL": context.database_url, "CRM_SEGMENTS_INSTANCE_DIR": instance,
               "SECRET_KEY": "bench-" + "x" * 32, "CRM_SEGMENTS_PUBLIC_URL": "https://crm.example.com",
               "CRM_SEGMENTS_SENDGRID_API_KEY": fake.api_key, "CRM_SEGMENTS_SENDGRID_HOST": fake.url,
               "CRM_SEGMENTS_EMAIL_FROM": "Shop <shop@example.com>",
               "CRM_SEGMENTS_UNCONFIRMED_AFTER": f"{WORKER_UNCONFIRMED_AFTER}s"}
        workers = Workers(factory, env, count=WORKERS, args=["--poll", "0.1"], log=log, seed=context.seed)
        try:
            workers.wait_registered(timeout=120)
            threads = int(os.environ.get("CRM_SEGMENTS_SEND_THREADS", "64"))
            with factory() as session, session.begin():
                session.execute(update(Message).values(next_attempt_at=utcnow()))
            started = time.monotonic()
            for target in targets:
                wait_for(lambda: len(fake.messages) >= target, timeout=WORKER_TIMEOUT,  # noqa: B023
                         what=f"{target} messages accepted", every=0.005)
                workers.kill_one(timeout=WORKER_TIMEOUT)
            restarted = workers.last_start
            load_at_restart = os.getloadavg()[0]
            left_at_restart = sum(statuses(factory)[s] for s in ("pending", "sending"))
            drained = wait_for(lambda: not (statuses(factory).keys() & {"pending", "sending"}),
                               timeout=WORKER_TIMEOUT, what="nothing pending or sending", every=0.1)
            drained_after_restart = time.monotonic() - restarted
            at_drain = statuses(factory)
            in_doubt_ids = _in_doubt_ids(factory)
            # Final: every message sent (or failed, suppressed), or unconfirmed, waiting for a person.
            unconfirmed_wait = wait_for(lambda: statuses(factory)["unknown"] == 0, timeout=WORKER_TIMEOUT,
                                        what="unknown -> unconfirmed", every=0.1)
            final_after_restart = time.monotonic() - restarted
            # SendGrid's events for every message it took, in one request (they come during the run in
            # life): those settle the unconfirmed messages the provider did take.
            taken = {int(fake.custom_args(m)["crm_message_id"]) for m in list(fake.messages)}
            events = [sendgrid_event(m, "processed") for m in list(fake.messages)]
            recording = time.monotonic()
            with factory() as session, session.begin():
                record_sendgrid_events(session, events, now=utcnow())
            events_seconds = time.monotonic() - recording
            after_events = statuses(factory)
            settled = len(in_doubt_ids) - sum(after_events[s] for s in IN_DOUBT)
            sending_again = time.monotonic()
            with factory() as session, session.begin():
                sent_again = unconfirmed.send_again(session, filters=MessageFilter(), actor="bench",
                                                    now=utcnow())
            wait_for(lambda: statuses(factory) == Counter(sent=expected), timeout=WORKER_TIMEOUT,
                     what="every message sent", every=0.1)
            sent_again_seconds = time.monotonic() - sending_again
            all_sent_after_restart = time.monotonic() - restarted
            run_seconds = time.monotonic() - started
        finally:
            workers.stop()
        log.seek(0)
        output = log.read().decode(errors="replace")
    kills = workers.kills
    killed_in_doubt = set().union(*(kill.in_doubt for kill in kills))
    copies = Counter(int(fake.custom_args(m)["crm_message_id"]) for m in fake.messages)
    early = _early_retries(fake, waits, killed_in_doubt)
    if fake.spec_errors:
        raise AssertionError(f"requests outside SendGrid's definition: {fake.spec_errors[:3]}")
    beside = [kill.taken_over_after for kill in kills if kill.others_running]
    alone = [kill.taken_over_after for kill in kills if not kill.others_running]
    return {
        "messages": expected, "workers": WORKERS, "kills": len(kills), "send_threads": threads,
        "claim_lease_seconds": LEASE, "latency_ms": round(LATENCY * 1000),
        "faults": (f"1 in {WORKER_FAULT_SHARE} first attempts 429 Retry-After {RETRY_AFTER}, "
                   f"1 in {WORKER_FAULT_SHARE} 503 (back-off {BACK_OFF:g} s)") if faults else "none",
        "kill_targets": targets,
        "in_doubt_per_kill": [len(kill.in_doubt) for kill in kills],
        "takeover_seconds_per_kill": [round(kill.taken_over_after, 1) for kill in kills],
        "in_doubt_max": max(len(kill.in_doubt) for kill in kills),
        "in_doubt_total": len(killed_in_doubt),
        "in_doubt_at_drain": len(in_doubt_ids),
        # Every unknown message is one a kill left, none from anything else.
        "in_doubt_all_left_by_kills": in_doubt_ids == killed_in_doubt,
        "in_doubt_the_provider_took": len(killed_in_doubt & taken),
        "settled_by_events": settled, "sent_again": sent_again,
        "takeover_seconds_with_another_worker_running": _spread(beside),
        "takeover_seconds_with_only_restarts": _spread(alone),
        "pending_or_sending_at_last_restart": left_at_restart,
        "drained_seconds_after_last_restart": round(drained_after_restart, 1),
        "drain_wait_seconds": round(drained, 1),
        "statuses_at_drain": dict(at_drain),
        "unknown_to_unconfirmed_after_drain_seconds": round(unconfirmed_wait, 1),
        "final_seconds_after_last_restart": round(final_after_restart, 1),
        "events_recorded": len(events), "events_record_seconds": round(events_seconds, 1),
        "send_again_to_all_sent_seconds": round(sent_again_seconds, 1),
        "all_sent_seconds_after_last_restart": round(all_sent_after_restart, 1),
        "load_average_at_last_restart": round(load_at_restart, 1),
        "run_seconds": round(run_seconds, 1),
        "duplicates": sum(n - 1 for n in copies.values() if n > 1), "lost": expected - len(copies),
        "retries_checked": len(early), "retries_early": sum(1 for e in early if e < 0),
        "shortest_wait_over_the_asked_seconds": round(min(early), 2) if early else None,
        "requests": len(fake.requests), "worker_log_tracebacks": output.count("Traceback"),
        "statuses": dict(statuses(factory)),
    }


def _in_doubt_ids(factory: Any) -> set[int]:
    with factory() as session:
        return set(session.scalars(select(Message.id).where(Message.status.in_(("unknown", "unconfirmed")))))


def _early_retries(fake: Any, waits: dict[str, float], in_doubt: set[int]) -> list[float]:
    """Per faulted address, the seconds its retry came after what was asked (negative: too early)."""
    by_address: dict[str, list[Any]] = defaultdict(list)
    for request in fake.requests:
        by_address[request.json()["personalizations"][0]["to"][0]["email"]].append(request)
    early = []
    for address, wait in waits.items():
        if not by_address[address]:
            continue
        refused, *retries = by_address[address]
        left_in_doubt = int(fake.custom_args(refused.json())["crm_message_id"]) in in_doubt
        if retries and refused.answered_at is not None and not left_in_doubt:  # not a person's re-send
            early.append((retries[0].at - refused.answered_at).total_seconds() - wait)
    return early


def _spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {"count": len(ordered), "min": round(ordered[0], 2),
            "median": round(ordered[len(ordered) // 2], 2), "max": round(ordered[-1], 2)}


_register_worker_kills("send-kill-9-workers", faults=False)
_register_worker_kills("send-kill-9-workers-faults", faults=True)

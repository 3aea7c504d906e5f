"""Sending at scale: ``crm-segments worker`` processes against one PostgreSQL database, sending to a fake
SendGrid near (0 ms) or far away (50 ms).

    python -m benchmarks.run send-1-worker-50ms send-2-workers-50ms send-1-worker-0ms send-2-workers-0ms \\
        --profiles 10000

N profiles (``--profiles``) each have one marketing email queued (a shipped template, rendered at
send time) but not yet due. The workers are started as the real command (``crm-segments worker``, one
process each, default settings but for the fake's address) and left idle; then one UPDATE makes every
message due, and the time runs until the fake has accepted all N. A provider "50 ms away" answers
each request 50 ms after it came and makes each new connection wait 100 ms first (the TCP and TLS
handshakes' two round trips). The fake runs in 2 processes of its own and checks every request against
SendGrid's OpenAPI definition after the timing (the run fails if one is outside it).

Targets (this 2-core machine): one worker ≥ 500 msg/s at 50 ms; two workers ≥ 1.8× one worker's rate
at 50 ms; ≥ 1,000 msg/s at 0 ms.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from benchmarks.context import BenchContext
from benchmarks.process_cpu import cpu_seconds
from benchmarks.registry import scenario
from benchmarks.scenarios.workflows import _Progress
from crm_segments.db import make_session_factory, utcnow
from crm_segments.models import Message, Profile

FAKE_PROCESSES = 2
API_KEY = "SG.bench-key"
NOT_YET = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
POLL = 0.1  # the workers' look at an empty queue: the start is not held up by it
STALLED = 60.0  # seconds without a message accepted: the run has failed


def _prepare(context: BenchContext) -> None:
    """N reachable profiles, each with one welcome email queued for later."""
    now = utcnow()
    stamp = time.time_ns()
    with make_session_factory(context.engine)() as session:
        for start in range(0, context.profiles, 10_000):
            count = min(10_000, context.profiles - start)
            ids = session.scalars(insert(Profile).returning(Profile.id), [
                {"external_id": f"send-{stamp}-{i}", "first_name": f"Sam{i}", "email": f"send{i}@example.com",
                 "email_consent": True, "time_zone": "UTC", "created_at": now, "updated_at": now}
                for i in range(start, start + count)]).all()
            session.execute(insert(Message), [
                {"dedupe_key": f"bench-send:{profile_id}", "profile_id": profile_id, "channel": "email",
                 "category": "marketing", "template_key": "evergreen/welcome", "context": {},
                 "next_attempt_at": NOT_YET, "created_at": now, "updated_at": now}
                for profile_id in ids])
        session.commit()


def _register(workers: int, latency_ms: int) -> None:
    name = f"send-{workers}-worker{'s' if workers > 1 else ''}-{latency_ms}ms"
    description = (f"{workers} `crm-segments worker` process{'es' if workers > 1 else ''}: N queued "
                   f"emails to a fake SendGrid {latency_ms} ms away")

    @scenario(name, description, prepare=_prepare)
    def run(context: BenchContext) -> dict[str, Any]:
        return _send(context, workers=workers, latency=latency_ms / 1000)


for _workers in (1, 2):
    for _latency in (50, 0):
        _register(_workers, _latency)


def _send(context: BenchContext, *, workers: int, latency: float) -> dict[str, Any]:
    from tests.fakes.processes import FakeProviderProcesses

    factory = make_session_factory(context.engine)
    with factory() as session:
        expected = int(session.scalar(select(func.count()).select_from(Message)) or 0)
    fake = FakeProviderProcesses("sendgrid", processes=FAKE_PROCESSES, check_after=True, api_key=API_KEY,
                                 latency=latency, handshake=2 * latency)
    with fake, tempfile.TemporaryDirectory(prefix="crm-bench-") as instance:
        env = {**os.environ, "DATABASE_URL": context.database_url,
               "CRM_SEGMENTS_INSTANCE_DIR": instance, "SECRET_KEY": "bench-" + "x" * 32,
               "CRM_SEGMENTS_PUBLIC_URL": "https://crm.example.com", "CRM_SEGMENTS_SENDGRID_API_KEY": API_KEY,
               "CRM_SEGMENTS_SENDGRID_HOST": fake.url, "CRM_SEGMENTS_EMAIL_FROM": "Shop <shop@example.com>"}
        processes = [_Worker(env) for _ in range(workers)]
        try:
            for process in processes:
                process.wait_ready()
            progress = _Progress(lambda: fake.messages, expected)
            with factory() as session, session.begin():
                session.execute(update(Message).values(next_attempt_at=utcnow() - dt.timedelta(seconds=1)))
            started = time.perf_counter()
            machine, postgres = _machine_cpu(), _postgres_cpu()
            backends = _backend_cpu(factory)
            renderers = _renderer_cpu(processes)
            fake_before = fake.cpu_seconds
            progress.start(started)
            last, moved = 0, started
            while (handed := fake.messages) < expected:
                now = time.perf_counter()
                if handed != last:
                    last, moved = handed, now
                elif now - moved > STALLED:
                    output = "\n".join(line for p in processes for line in p.lines[-20:])
                    raise RuntimeError(f"{handed} of {expected} accepted, none for {STALLED:g} s:\n{output}")
                time.sleep(0.02)  # the fake's counts move every 50 ms
            seconds = time.perf_counter() - started
            progress.stop()
            handed = fake.messages
            cpu = [process.cpu_seconds() for process in processes]
            busy, total = _machine_cpu()
            machine = (busy - machine[0], total - machine[1])
            postgres = _postgres_cpu() - postgres
            backends = _backend_cpu(factory, since=backends)
            renderers = _renderer_cpu(processes) - renderers
            fake_timed = fake.cpu_seconds - fake_before
        finally:
            for process in processes:
                process.stop()
        fake_cpu = fake.cpu_seconds
    requests, checked, spec_errors = fake.requests, fake.checked, fake.spec_errors
    with factory() as session:
        statuses = dict(session.execute(select(Message.status, func.count()).group_by(Message.status)).all())
        # What the run's writes left in the messages' indexes (each row version not HOT adds an entry).
        index_bytes = session.scalar(text("SELECT pg_indexes_size('crm_messages')"))
    if spec_errors or checked != requests:
        raise AssertionError(f"{requests} requests, {checked} checked against SendGrid's OpenAPI definition, "
                             f"{spec_errors} outside it: {fake.spec_error_samples[:3]}")
    if requests != expected or statuses != {"sent": expected}:
        raise AssertionError(f"{expected} messages: {requests} requests, statuses {statuses}")
    return {"messages": expected, "workers": workers, "latency_ms": round(latency * 1000),
            "handshake_ms": round(2 * latency * 1000), "provider_requests": requests,
            "checked_against_definition": checked, "spec_errors": spec_errors,
            "send_threads_per_worker": processes[0].threads, "fake_processes": FAKE_PROCESSES,
            "all_accepted_seconds": round(seconds, 2),
            "messages_per_second": round(handed / seconds) if seconds else None,
            "sustained_per_second": progress.sustained(), "first_accepted_seconds": progress.first,
            "per_worker_sent": [process.sent for process in processes],
            "worker_cpu_seconds": [round(value, 1) for value in cpu],
            "renderer_cpu_seconds": round(renderers, 1), "postgres_cpu_seconds": round(postgres, 1),
            "postgres_backends_cpu_seconds": round(sum(backends.values()), 2),
            "messages_index_kb": round(int(index_bytes or 0) / 1024),
            "fake_provider_cpu_seconds_timed": round(fake_timed, 1),
            # Of both CPUs while timed, by everything on the machine (other users' work included).
            "machine_busy_percent": round(100 * machine[0] / machine[1]) if machine[1] else None,
            "fake_provider_cpu_seconds": round(fake_cpu, 1), "statuses": statuses}


class _Worker:
    """One ``crm-segments worker`` process, as a deployment starts it."""

    def __init__(self, env: dict[str, str]) -> None:
        command = [sys.executable, "-c", "from crm_segments.cli import main; main()",
                   "worker", "--poll", str(POLL), *os.environ.get("BENCH_WORKER_ARGS", "").split()]
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, cwd=Path(__file__).resolve().parents[2])
        self.lines: list[str] = []
        self.threads = 0
        self.sent: int | None = None
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip())
            if line.startswith("Worker ") and " is sending with " in line:
                self.threads = int(line.split(" is sending with ")[1].split()[0])
                self._ready.set()
            elif line.startswith("Worker stopped: "):
                self.sent = int(line.split()[2])

    def wait_ready(self) -> None:
        if not self._ready.wait(60):
            raise RuntimeError("a worker did not start: " + "\n".join(self.lines[-20:]))

    def cpu_seconds(self) -> float:
        """CPU time of the worker process itself (all its threads; its renderers are not counted)."""
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(5)


def _renderer_cpu(workers: list[_Worker]) -> float:
    return sum(cpu_seconds(pid) for worker in workers for pid in _children(worker.process.pid))


def _children(pid: int) -> list[int]:
    """The worker's renderer processes."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _postgres_cpu() -> float:
    """CPU time of every PostgreSQL process on this machine (its server, if local)."""
    total = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                total += cpu_seconds(int(comm.parent.name))
        except OSError:
            continue
    return total


def _backend_cpu(factory: sessionmaker[Session], *,
                 since: dict[int, float] | None = None) -> dict[int, float]:
    """CPU time of each PostgreSQL backend connected to the benchmark's database (the workers' pooled
    connections, which last the run), less ``since``: unlike ``_postgres_cpu``, not counting what
    other databases on the same server are doing meanwhile."""
    with factory() as session:
        pids = session.scalars(select(text("pid")).select_from(text("pg_stat_activity"))
                               .where(text("datname = current_database() AND pid <> pg_backend_pid()"))).all()
    since = since or {}
    return {pid: cpu_seconds(pid) - since.get(pid, 0.0) for pid in pids}


def _machine_cpu() -> tuple[float, float]:
    """Busy and total CPU time of the machine so far (/proc/stat)."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    return float(sum(values) - idle), float(sum(values))

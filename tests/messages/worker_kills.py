"""``crm-segments worker`` processes killed with SIGKILL during a run and started again, as a deployment's
supervisor (systemd, Compose) does: shared by the crash test and the crash benchmark.

Each kill picks one registered worker at random, kills it, starts another in its place, and measures
what the kill left: how long until another sender took the dead one over (its row in crm_senders gone)
and how many of its messages became ``unknown`` (those it was handing to the provider). The dead
sender's rows are found by its id, which begins every claim token it took.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.messages import claims
from crm_segments.models import Message, Sender

REPO = Path(__file__).resolve().parents[2]
IN_DOUBT = ("unknown", "unconfirmed")


@dataclass
class Kill:
    sender: int
    others_running: bool     # another worker was registered when it was killed (or only restarts were)
    taken_over_after: float  # seconds from the kill until another sender had freed its claims
    in_doubt: set[int] = field(default_factory=set)  # its messages made unknown: they were in flight


def wait_for(condition: Callable[[], object], *, timeout: float, what: str, every: float = 0.02) -> float:
    """Wait until ``condition()`` is true; returns the seconds it took (fails after ``timeout``)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(every)
    return time.monotonic() - started


def statuses(factory: sessionmaker[Session]) -> Counter[str]:
    with factory() as session:
        counts = session.execute(select(Message.status, func.count()).group_by(Message.status)).all()
    return Counter({status: count for status, count in counts})


class Workers:
    """``count`` worker processes (``crm-segments worker ARGS``) with the environment ``env``; their
    output goes to ``log`` (a file: a pipe nobody reads could fill and block them)."""

    def __init__(self, factory: sessionmaker[Session], env: dict[str, str], *, count: int, args: list[str],
                 log: IO[bytes], seed: int = 1) -> None:
        self.factory, self.env, self.args, self.log = factory, {**os.environ, **env}, args, log
        self.random = random.Random(seed)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.ended: list[subprocess.Popen[bytes]] = []
        self.kills: list[Kill] = []
        self.last_start = 0.0
        for _ in range(count):
            self.processes.append(self._start())

    def _start(self) -> subprocess.Popen[bytes]:
        self.last_start = time.monotonic()
        return subprocess.Popen([sys.executable, "-c", "from crm_segments.cli import main; main()", "worker",
                                 *self.args], cwd=REPO, env=self.env, stdout=self.log, stderr=self.log)

    def senders(self) -> dict[int, int]:
        """Registered senders by process id."""
        with self.factory() as session:
            return {pid: sender for sender, pid in session.execute(select(Sender.id, Sender.pid))}

    def wait_registered(self, timeout: float = 60.0) -> None:
        wait_for(lambda: {p.pid for p in self.processes} <= self.senders().keys(), timeout=timeout,
                 what="every worker registered as a sender", every=0.05)

    def kill_one(self, *, timeout: float = 60.0) -> Kill:
        """SIGKILL a registered worker chosen at random, start another in its place and wait until the
        dead one is taken over."""
        registered = self.senders()
        running = [p for p in self.processes if p.pid in registered]
        if not running:
            wait_for(lambda: any(p.pid in self.senders() for p in self.processes), timeout=timeout,
                     what="a worker registered", every=0.01)
            registered = self.senders()
            running = [p for p in self.processes if p.pid in registered]
        victim = self.random.choice(running)
        sender = registered[victim.pid]
        os.kill(victim.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        victim.wait(timeout=10)
        self.ended.append(victim)
        self.processes[self.processes.index(victim)] = self._start()
        # Taken over: its row is gone (a live worker, or its successor once started, did it).
        wait_for(lambda: sender not in self.senders().values(), timeout=timeout,
                 what=f"sender {sender} taken over", every=0.01)
        kill = Kill(sender, len(running) > 1, time.monotonic() - killed_at, self.in_doubt_of(sender))
        self.kills.append(kill)
        return kill

    def in_doubt_of(self, sender: int) -> set[int]:
        with self.factory() as session:
            return set(session.scalars(select(Message.id).where(
                Message.claim_token.startswith(claims.token_prefix(sender), autoescape=True),
                Message.status.in_(IN_DOUBT))))

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.ended += self.processes
        self.processes = []

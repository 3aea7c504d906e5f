"""The `worker` command: the sending loop as a process of its own, started as many times as needed."""

from __future__ import annotations

import os
import signal
import socket
from types import FrameType

import click

from crm_segments.cli.context import configure_logging, make_app
from crm_segments.messages.worker import DEFAULT_BATCH, DEFAULT_LANES, DEFAULT_POLL, SendWorker
from crm_segments.workflows.engine import advance_due


@click.command("worker")
@click.option("--threads", type=click.IntRange(1, 64),
              help="Provider calls at once [default: CRM_SEGMENTS_SEND_THREADS].")
@click.option("--batch", default=DEFAULT_BATCH, show_default=True, type=click.IntRange(1, 10_000),
              help="Messages claimed at once.")
@click.option("--lanes", default=DEFAULT_LANES, show_default=True, type=click.IntRange(1, 16),
              help="Batches sent at once (each by a thread of its own, with a share of the send threads).")
@click.option("--poll", default=DEFAULT_POLL, show_default=True, type=click.FloatRange(0.05, 3600),
              help="Seconds between looks at an empty queue.")
@click.option("--workflows/--no-workflows", default=False, show_default=True,
              help="Also run due workflow steps (as the scheduler does every 15 s).")
def worker(threads: int | None, batch: int, lanes: int, poll: float, workflows: bool) -> None:
    """Send due messages until stopped; start it on as many machines as needed (PostgreSQL)."""
    configure_logging()
    app = make_app({"CRM_SEGMENTS_SEND_THREADS": threads} if threads else None)
    send_worker = SendWorker(app, poll=poll, batch=batch, lanes=lanes,
                             steps=advance_due if workflows else None)

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        send_worker.request_stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"Worker {socket.gethostname()}:{os.getpid()} is sending with {send_worker.threads} threads"
               f" in {send_worker.lanes} lane{'s' if send_worker.lanes > 1 else ''}"
               f"{' and running workflow steps' if workflows else ''}; Ctrl+C stops it after the batch "
               "under way.")
    stats = send_worker.run_forever()
    outcomes = ", ".join(f"{count} {outcome}" for outcome, count in sorted(stats.report.outcomes.items()))
    click.echo(f"Worker stopped: {stats.report.claimed} messages in {stats.batches} batches"
               + (f" ({outcomes})" if outcomes else "") + ".")


COMMANDS = [worker]

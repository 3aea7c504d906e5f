"""The `scheduler` command: runs periodic jobs, one active process at a time."""

from __future__ import annotations

import signal
from types import FrameType

import click

from crm_segments.cli.context import configure_logging, make_app
from crm_segments.scheduler.runner import SchedulerRunner


@click.command("scheduler")
def scheduler() -> None:
    """Run segment refreshes, auto-tag rules and message dispatch (stands by if another runs)."""
    configure_logging()
    runner = SchedulerRunner(make_app())

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        runner.request_stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"Scheduler {runner.holder} is running; Ctrl+C stops it.")
    runner.run_forever()


COMMANDS = [scheduler]

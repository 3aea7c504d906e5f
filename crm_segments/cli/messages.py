"""Messaging commands: send due messages now (the scheduler does this every few seconds)."""

from __future__ import annotations

import click

from crm_segments.automation.jobs import dispatch_due_messages
from crm_segments.cli.context import make_app
from crm_segments.db import utcnow
from crm_segments.extension import get_state


@click.command("send-due")
def send_due() -> None:
    """Send the messages that are due, once, and print what happened to them."""
    app = make_app()
    with app.app_context():
        report = dispatch_due_messages(get_state(app).session_factory, now=utcnow())
    outcomes = ", ".join(f"{count} {outcome}" for outcome, count in sorted(report.outcomes.items()))
    click.echo(f"{report.claimed} due, {report.recovered} recovered" + (f": {outcomes}" if outcomes else ""))


COMMANDS = [send_due]

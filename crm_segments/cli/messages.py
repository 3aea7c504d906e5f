"""Messaging commands: send due messages now (the scheduler does this every few seconds), and resume a
channel paused after its provider refused the credentials."""

from __future__ import annotations

import click

from crm_segments.cli.context import make_app
from crm_segments.db import utcnow
from crm_segments.messages.channel_pauses import ChannelState, channel_state, paused_states, resume_channel
from crm_segments.messages.jobs import dispatch_due_messages
from crm_segments.models.messaging import CHANNELS
from crm_segments.state import get_state


@click.command("send-due")
def send_due() -> None:
    """Send the messages that are due, once, and print what happened to them."""
    app = make_app()
    with app.app_context():
        factory = get_state(app).session_factory
        report = dispatch_due_messages(get_state(app), now=utcnow())
        with factory() as session:
            paused = paused_states(session)
    outcomes = ", ".join(f"{count} {outcome}" for outcome, count in sorted(report.outcomes.items()))
    click.echo(f"{report.claimed} due, {report.recovered} recovered" + (f": {outcomes}" if outcomes else ""))
    for state in paused:
        click.echo(_paused_line(state), err=True)


def _paused_line(state: ChannelState) -> str:
    when = f"{state.paused_at:%Y-%m-%d %H:%M} UTC" if state.paused_at else "earlier"
    return (f"{state.label} is paused since {when}: {state.provider_label} refused the credentials "
            f"({state.error}). {state.queued} message{'s' if state.queued != 1 else ''} wait; fix the key, "
            f"then resume it (the banner on an admin page, or: crm-segments resume-channel {state.channel}).")


@click.command("resume-channel")
@click.argument("channel", type=click.Choice(CHANNELS))
def resume_channel_command(channel: str) -> None:
    """Resume a channel paused after its provider refused the credentials."""
    app = make_app()
    with app.app_context(), get_state(app).session_factory() as session, session.begin():
        resumed = resume_channel(session, channel, user_id=None, now=utcnow())
        queued = channel_state(session, channel).queued
    click.echo(f"{channel} resumed: {queued} queued message{'s' if queued != 1 else ''} go out with the "
               "next dispatch." if resumed else f"{channel} was not paused.")


COMMANDS = [send_due, resume_channel_command]

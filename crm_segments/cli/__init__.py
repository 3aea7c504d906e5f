"""The ``crm-segments`` command line."""

from __future__ import annotations

import click

from crm_segments.cli import (
    accounts,
    admin,
    data,
    messages,
    privacy,
    scheduler,
    segments,
    server,
    worker,
    workflows,
)


@click.group(help="crm-segments: tag CRM profiles, build live segments, message customers.")
def main() -> None:
    pass


for module in (admin, accounts, data, messages, privacy, scheduler, segments, server, worker, workflows):
    for command in module.COMMANDS:
        main.add_command(command)

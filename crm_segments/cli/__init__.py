"""The ``crm-segments`` command line."""

from __future__ import annotations

import click
from flask.cli import AppGroup, with_appcontext

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


MODULES = (admin, accounts, data, messages, privacy, scheduler, segments, server, worker, workflows)
for module in MODULES:
    for command in module.COMMANDS:
        main.add_command(command)


def host_command_group() -> AppGroup:
    """The same commands as ``flask crm-segments ...`` on a host app's CLI (CRMSegments.init_app adds
    it): they work on the host's app and its app.config rather than an app built from the environment."""
    # The group pushes the host's app context, which stays for the command under it.
    group = AppGroup("crm-segments", help=main.help, callback=with_appcontext(lambda: None))
    for module in MODULES:
        for command in module.COMMANDS:
            group.add_command(command)
    return group

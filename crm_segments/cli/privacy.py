"""One person's data from the command line: export-profile and erase-profile (as on the profile page)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from crm_segments.cli.context import make_app, unit_of_work
from crm_segments.kernel.errors import NotFound
from crm_segments.privacy.erasure import erase_profile
from crm_segments.privacy.export import export_profile
from crm_segments.state import get_state


@click.command("export-profile")
@click.argument("profile_id", type=click.IntRange(min=1))
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not to stdout.")
def export_profile_command(profile_id: int, output: Path | None) -> None:
    """Everything held about one profile, as JSON (right of access)."""
    app = make_app()
    try:
        with unit_of_work(app) as session:
            document = export_profile(session=session, profile_id=profile_id)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None
    text = json.dumps(document, ensure_ascii=False, indent=2)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")


@click.command("erase-profile")
@click.argument("profile_id", type=click.IntRange(min=1))
@click.confirmation_option(prompt="Erase the profile and everything that names it? This cannot be undone.")
def erase_profile_command(profile_id: int) -> None:
    """Delete a profile and everything that names it (right of erasure); the audit keeps ids and counts."""
    app = make_app()
    try:
        with unit_of_work(app) as session:
            erased = erase_profile(session=session, profile_id=profile_id,
                                   outbox_dir=get_state(app).settings.outbox_dir, user_id=None, via="cli")
            rows, files = sum(erased.rows.values()), erased.outbox_files
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Erased profile {profile_id}: {rows:,} rows and {files:,} outbox files.")


COMMANDS = [export_profile_command, erase_profile_command]

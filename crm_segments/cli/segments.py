"""Segment commands: ``crm-segments segments refresh [NAME]`` and ``crm-segments segments list``."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import func, select

from crm_segments.cli.context import make_app
from crm_segments.db import utcnow
from crm_segments.models import Segment
from crm_segments.segments.refresh import REFRESHABLE, RefreshResult, refresh_many
from crm_segments.state import get_state


@click.group("segments", help="Refresh and list segments.")
def segments_group() -> None:
    pass


@segments_group.command("refresh")
@click.argument("name", required=False)
@click.option("--full", is_flag=True, help="Recompute every segment in full instead of re-evaluating "
                                           "only the profiles that changed or crossed a time edge.")
def refresh_command(name: str | None, full: bool) -> None:
    """Refresh NAME (a segment's name or key), or every live and query segment, with progress.

    Live segments are refreshed incrementally where their rule allows it (docs/segments.md), in
    full with --full. Each segment is refreshed and committed on its own; a failure is reported and
    recorded on the segment, and the others still run. The exit status is 1 if any failed."""
    app = make_app()
    factory = get_state(app).session_factory
    with app.app_context(), factory() as session:
        query = select(Segment.id).where(Segment.kind.in_(REFRESHABLE)).order_by(Segment.id)
        if name:
            query = query.where((func.lower(Segment.name) == name.strip().lower()) | (Segment.key == name))
        ids = list(session.scalars(query))
    if not ids:
        raise click.ClickException(f"no live or query segment named {name!r}" if name else "no segments")
    failed: list[RefreshResult] = []
    bar: Any
    with click.progressbar(length=len(ids), label="Refreshing segments", show_pos=True,
                           item_show_func=lambda r: r.name if r else None) as bar:

        def progress(result: RefreshResult) -> None:
            if not result.ok:
                failed.append(result)
            bar.update(1, result)

        with app.app_context():
            results = refresh_many(factory, ids, now=utcnow(), full=full, progress=progress)
    for result in results:
        if result.ok:
            how = "full" if result.full else "incremental"
            click.echo(f"{result.name}: {result.size:,} members (+{result.entered:,} -{result.exited:,}) "
                       f"in {result.duration_ms:,} ms ({how})")
    for result in failed:
        click.echo(f"{result.name}: FAILED: {result.error}", err=True)
    if failed:
        raise click.exceptions.Exit(1)


@segments_group.command("list")
def list_command() -> None:
    """Every segment with its kind, size and last refresh."""
    app = make_app()
    with app.app_context(), get_state(app).session_factory() as session:
        for segment in session.scalars(select(Segment).order_by(Segment.name)):
            last = segment.last_refreshed_at
            refreshed = last.strftime("%Y-%m-%d %H:%M") if last else "never"
            click.echo(f"{segment.id:>5}  {segment.kind:<6}  {segment.member_count:>9,}  {refreshed:<16}  "
                       f"{segment.name}{'  [built-in]' if segment.is_builtin else ''}")


COMMANDS = [segments_group]

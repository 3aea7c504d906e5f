"""Workflow commands: export to YAML files, import from them, and run due work now."""

from __future__ import annotations

import re
from pathlib import Path

import click
from sqlalchemy import select

from crm_segments.cli.context import make_app, unit_of_work
from crm_segments.db import utcnow
from crm_segments.kernel.errors import Conflict, ValidationFailed
from crm_segments.models import Workflow
from crm_segments.state import get_state


@click.group("workflows", help="Export, import and run workflows.")
def workflows_group() -> None:
    pass


def file_name(workflow: Workflow) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", workflow.name.lower()).strip("_")
    stem = workflow.key or slug or f"workflow_{workflow.id}"
    return f"{stem}.yaml"


@workflows_group.command("export")
@click.option("--key", "keys", multiple=True, help="Only the workflow with this key or name (repeatable).")
@click.option("--output-dir", "-o", type=click.Path(file_okay=False, path_type=Path),
              help="Write one FILE.yaml per workflow here; without it, print to standard output.")
def export_workflows(keys: tuple[str, ...], output_dir: Path | None) -> None:
    """Export workflows as YAML files that `workflows import` reads back."""
    from crm_segments.workflows.files import dump_yaml

    app = make_app()
    with unit_of_work(app) as session:
        query = select(Workflow).order_by(Workflow.id)
        if keys:
            query = query.where(Workflow.key.in_(keys) | Workflow.name.in_(keys))
        workflows = list(session.scalars(query))
        missing = set(keys) - {w.key for w in workflows} - {w.name for w in workflows}
        if missing:
            raise click.ClickException(f"no workflow has the key or name: {', '.join(sorted(missing))}")
        if output_dir is None:
            click.echo("\n---\n".join(dump_yaml(w) for w in workflows), nl=False)
            return
        output_dir.mkdir(parents=True, exist_ok=True)
        for workflow in workflows:
            path = output_dir / file_name(workflow)
            path.write_text(dump_yaml(workflow), encoding="utf-8")
            click.echo(f"wrote {path}")


@workflows_group.command("import")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_workflows(files: tuple[Path, ...]) -> None:
    """Create or update workflows from YAML FILES (matched by key, then name). All or nothing."""
    from crm_segments.workflows.files import import_yaml

    app = make_app()
    try:
        with unit_of_work(app) as session:
            results = [import_yaml(session=session, text=path.read_text(encoding="utf-8"), source=path.name)
                       for path in files]
    except ValidationFailed as exc:
        for error in exc.errors:
            click.echo(str(error), err=True)
        raise click.ClickException(f"{len(exc.errors)} problems found; nothing was imported") from None
    except Conflict as exc:
        raise click.ClickException(f"{exc}; nothing was imported") from None
    for workflow, created in results:
        click.echo(f"{'created' if created else 'updated'} {workflow.name} (version {workflow.version})")


@workflows_group.command("run")
def run_due() -> None:
    """Enroll from new trigger events and run every due step now (what the scheduler does)."""
    from crm_segments.workflows.engine import advance_due, enroll_due

    app = make_app()
    factory = get_state(app).session_factory
    with app.app_context():
        now = utcnow()
        enrolled = enroll_due(factory, now=now)
        ran = advance_due(factory, now=now)
    click.echo(f"enrolled {enrolled}, ran {ran} due enrollments")


COMMANDS = [workflows_group]

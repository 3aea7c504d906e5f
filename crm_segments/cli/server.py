"""Commands that run the product: serve (web UI and API) and run (everything, for a newcomer)."""

from __future__ import annotations

import secrets

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.cli.admin import init_database
from crm_segments.cli.context import configure_logging, make_app, unit_of_work
from crm_segments.config import instance_dir
from crm_segments.models import Profile
from crm_segments.scheduler.runner import SchedulerRunner
from crm_segments.services import users

DEMO_ADMIN_EMAIL = "admin@example.com"
DEMO_PROFILES = 2000


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
def serve(host: str, port: int, threads: int) -> None:
    """Serve the web UI and the JSON API (production WSGI server: waitress)."""
    from waitress import serve as waitress_serve

    configure_logging()
    app = make_app()
    click.echo(f"crm-segments is listening on http://{host}:{port}/")
    waitress_serve(app, host=host, port=port, threads=threads)


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--demo-profiles", default=DEMO_PROFILES, show_default=True, type=int)
def run(host: str, port: int, demo_profiles: int) -> None:
    """Migrate, seed demo data into an empty database, create a demo admin, and serve."""
    from waitress import serve as waitress_serve

    from crm_segments.demo.seed import seed_demo

    configure_logging()
    app = make_app()
    init_database(app)
    with unit_of_work(app) as session:
        empty = session.scalar(select(func.count()).select_from(Profile)) == 0
    if empty:
        click.echo(f"Seeding {demo_profiles} demo profiles...")
        seed_demo(app, profiles=demo_profiles, seed=1)
    with unit_of_work(app) as session:
        password = _ensure_demo_admin(session)
    runner = SchedulerRunner(app)
    runner.start_in_background()  # stands by if a separate `crm-segments scheduler` already runs
    click.echo(f"Sign in at http://{host}:{port}/ as {DEMO_ADMIN_EMAIL} with password {password}")
    try:
        waitress_serve(app, host=host, port=port, threads=8)
    finally:
        runner.stop()


def _ensure_demo_admin(session: Session) -> str:
    """Create the demo admin on first run; its password is kept in the instance folder to print again."""
    password_file = instance_dir() / "demo-admin-password"
    if users.find_user_by_email(session=session, email=DEMO_ADMIN_EMAIL) is not None:
        if password_file.exists():
            return password_file.read_text().strip()
        return "(changed since the first run)"
    password = secrets.token_urlsafe(9)
    users.create_user(session=session, email=DEMO_ADMIN_EMAIL, password=password, role="admin",
                      name="Demo Admin")
    password_file.write_text(password)
    password_file.chmod(0o600)
    return password
COMMANDS = [serve, run]

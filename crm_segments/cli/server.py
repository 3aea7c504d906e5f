"""Commands that run the product: serve (web UI and API) and run (everything, for a newcomer).

Both bind their listening socket before building the app, so the public URL (links in messages:
unsubscribe, List-Unsubscribe) defaults to the address actually served, ``--port 0`` included.
"""

from __future__ import annotations

import gc
import logging
import os
import secrets
import socket

import click
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.accounts import users
from crm_segments.cli.admin import init_database
from crm_segments.cli.context import configure_logging, make_app, unit_of_work
from crm_segments.config import instance_dir
from crm_segments.db import utcnow
from crm_segments.models import Profile
from crm_segments.scheduler.runner import SchedulerRunner
from crm_segments.segments.realtime import reevaluate_profiles as reevaluate_segments
from crm_segments.segments.refresh import refresh_due_segments
from crm_segments.state import get_state
from crm_segments.tagging.auto import run_auto_tag_rules
from crm_segments.tagging.realtime import reevaluate_profiles as retag_changed_profiles

log = logging.getLogger(__name__)

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
    listener = listen(host, port)
    address = served_url(listener)
    app = app_served_at(address)
    warm_templates(app)
    warm_near_real_time(app)
    settle_memory()
    click.echo(f"crm-segments is listening on {address}/")
    waitress_serve(app, sockets=[listener], threads=threads)


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--demo-profiles", default=DEMO_PROFILES, show_default=True, type=int)
def run(host: str, port: int, demo_profiles: int) -> None:
    """Migrate, seed demo data into an empty database, create a demo admin, and serve."""
    from waitress import serve as waitress_serve

    from crm_segments.demo.seed import seed_demo

    configure_logging()
    listener = listen(host, port)  # connections wait in its queue until the first pages are ready
    address = served_url(listener)
    app = app_served_at(address)
    init_database(app)
    with unit_of_work(app) as session:
        empty = session.scalar(select(func.count()).select_from(Profile)) == 0
    if empty:
        click.echo(f"Seeding {demo_profiles} demo profiles...")
        seed_demo(app, profiles=demo_profiles, seed=1)
    with unit_of_work(app) as session:
        password = _ensure_demo_admin(session)
    prepare_first_pages(app)
    warm_templates(app)
    warm_near_real_time(app)
    settle_memory()
    runner = SchedulerRunner(app)
    runner.start_in_background()  # stands by if a separate `crm-segments scheduler` already runs
    click.echo(f"Sign in at {address}/ as {DEMO_ADMIN_EMAIL} with password {password}")
    try:
        waitress_serve(app, sockets=[listener], threads=8)
    finally:
        runner.stop()


def listen(host: str, port: int) -> socket.socket:
    """The bound, listening socket the server will serve on (``port`` 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=1024)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def served_url(listener: socket.socket) -> str:
    """``http://host:port`` of a listening socket; a wildcard address is named by this machine's name."""
    host, port = listener.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def app_served_at(address: str) -> Flask:
    """The app, with PUBLIC_URL defaulting to ``address``; a PUBLIC_URL naming elsewhere is logged."""
    configured = os.environ.get("PUBLIC_URL")
    app = make_app(None if configured else {"CRM_SEGMENTS_PUBLIC_URL": address})
    public = get_state(app).settings.public_url
    if public != address:
        log.warning("PUBLIC_URL is %s but this server listens on %s: links in messages (unsubscribe, "
                    "List-Unsubscribe) point to %s", public, address, public)
    click.echo(f"Links in messages point to {public}/")
    return app


def prepare_first_pages(app: Flask) -> None:
    """Run the auto-tag rules, then fill every segment that is due, before the first page is served.

    The scheduler's first runs come a minute (segments) to fifteen minutes (auto-tags) after start;
    without this a new install shows every segment empty until then. Tags first: segment rules may
    test the tags the rules set.
    """
    factory = get_state(app).session_factory
    click.echo("Running auto-tag rules and filling segments...")
    with app.app_context():
        tagged = run_auto_tag_rules(factory)
        refreshed = refresh_due_segments(factory, now=utcnow())
    failed = [f"auto-tag rule {r.rule_id}: {r.error}" for r in tagged if r.error] + [
        f"segment {r.name}: {r.error}" for r in refreshed if not r.ok]
    for failure in failed:
        click.echo(f"  failed, retried by the scheduler: {failure}", err=True)
    click.echo(f"  {len(tagged)} auto-tag rules run ({sum(r.added for r in tagged)} tags added), "
               f"{len(refreshed)} segments filled")


def warm_templates(app: Flask) -> None:
    """Compile every page template now (about half a second for all of them), so no first view of a
    page compiles its templates, a few tenths of a second each on a busy machine, while a person waits."""
    env = app.jinja_env
    for name in env.list_templates(filter_func=lambda name: name.startswith("crm_segments/")):
        env.get_template(name)


def warm_near_real_time(app: Flask) -> None:
    """Build and compile today's near-real-time statements (live segments, auto-tag rules) now,
    so the first change after start does not wait for them (about a second at 1M profiles)."""
    with app.app_context(), get_state(app).session_factory() as session:
        nobody = [0]  # no profile has id 0: every statement runs and changes nothing
        retag_changed_profiles(session, nobody)
        reevaluate_segments(session, nobody, now=utcnow())
        session.rollback()


def settle_memory() -> None:
    """Leave what start-up made (modules, the app, compiled templates and statements) out of every later
    garbage collection. A full collection stops every thread while it walks every object; over the
    hundreds of thousands start-up leaves that is 0.2-0.4 s on a busy machine, once every few dozen
    pages, added to whichever page is being served then. Frozen, they are never walked again."""
    gc.collect()
    gc.freeze()


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

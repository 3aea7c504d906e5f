"""Set-up commands: init-db, create-user, create-api-key."""

from __future__ import annotations

import click

from crm_segments.accounts import users
from crm_segments.cli.context import make_app, unit_of_work
from crm_segments.kernel.errors import Conflict, NotFound, ValidationFailed
from crm_segments.models.users import ROLES
from crm_segments.state import get_state


def init_database(app: object) -> None:
    """Migrate to head and create the shipped defaults (segments, rules, workflows)."""
    from crm_segments import migrate  # Alembic: loaded only by the commands that migrate

    state = get_state(app)  # type: ignore[arg-type]
    migrate.upgrade(state.settings.database_url)
    with unit_of_work(app) as session:  # type: ignore[arg-type]
        for install in state.installers:
            install(session)


@click.command("init-db")
def init_db() -> None:
    """Migrate the database to the latest schema and create the shipped defaults."""
    app = make_app()
    init_database(app)
    click.echo("Database is at the latest schema; shipped defaults are in place.")


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", default="")
@click.password_option(help="Asked for when not given.")
def create_user(email: str, role: str, name: str, password: str) -> None:
    """Create a user who can sign in to the web UI."""
    app = make_app()
    try:
        with unit_of_work(app) as session:
            user = users.create_user(session=session, email=email, password=password, role=role,
                                     name=name)
            click.echo(f"Created {user.role} {user.email}.")
    except (ValidationFailed, Conflict) as exc:
        raise click.ClickException(str(exc)) from None


@click.command("create-api-key")
@click.option("--email", required=True, help="The user the key acts as.")
@click.option("--name", default="", help="A label to recognise the key by.")
def create_api_key(email: str, name: str) -> None:
    """Create an API key for the JSON API; the key is printed once and stored only as a hash."""
    app = make_app()
    try:
        with unit_of_work(app) as session:
            _, secret = users.create_api_key(session=session, email=email, name=name)
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(secret)


COMMANDS = [init_db, create_user, create_api_key]

"""Account commands: list users, deactivate and reactivate them, set passwords, end sessions, list and
revoke API keys."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.orm import Session

from crm_segments.accounts import management as accounts
from crm_segments.cli.context import make_app, unit_of_work
from crm_segments.kernel.errors import Conflict, NotFound, ValidationFailed
from crm_segments.state import get_state

REFUSALS = (ValidationFailed, Conflict, NotFound)


@contextmanager
def _work() -> Iterator[Session]:
    """One unit of work; the engine is closed after it, so a command leaves no connection behind."""
    app = make_app()
    try:
        with unit_of_work(app) as session:
            yield session
    finally:
        get_state(app).engine.dispose()


def _when(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


@click.command("list-users")
def list_users() -> None:
    """List users: email, role, whether they can sign in, and their API keys in use."""
    with _work() as session:
        for user in accounts.list_users(session=session):
            keys = sum(1 for key in user.api_keys if key.revoked_at is None)
            state = "active" if user.is_active else "deactivated"
            click.echo(f"{user.email}\t{user.role}\t{state}\t{keys} API key{'s' * (keys != 1)}")


def _set_active(email: str, active: bool) -> None:
    try:
        with _work() as session:
            user = accounts.user_by_email(session=session, email=email)
            accounts.set_active(session=session, user=user, active=active)
            address = user.email
    except REFUSALS as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{address} is {'active again' if active else 'deactivated: signed out everywhere'}.")


@click.command("deactivate-user")
@click.option("--email", required=True)
def deactivate_user(email: str) -> None:
    """Stop a user signing in: their sessions end and their API keys stop working (until reactivated).
    The last active admin cannot be deactivated."""
    _set_active(email, False)


@click.command("activate-user")
@click.option("--email", required=True)
def activate_user(email: str) -> None:
    """Let a deactivated user sign in again; their API keys that were not revoked work again."""
    _set_active(email, True)


@click.command("set-password")
@click.option("--email", required=True)
@click.option("--generate", is_flag=True, help="Make a random password and print it once.")
@click.option("--password", help="Asked for (twice) when not given and not --generate.")
def set_password(email: str, generate: bool, password: str | None) -> None:
    """Change or reset a user's password (at least 12 characters, not a common one); every session
    of theirs ends."""
    if generate and password:
        raise click.UsageError("give --password or --generate, not both")
    if generate:
        password = accounts.generate_password()
    elif password is None:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        with _work() as session:
            user = accounts.user_by_email(session=session, email=email)
            accounts.set_password(session=session, user=user, password=password or "")
            address = user.email
    except REFUSALS as exc:
        raise click.ClickException(str(exc)) from None
    if generate:
        click.echo(password)
    else:
        click.echo(f"Password of {address} changed; their sessions have ended.")


@click.command("end-sessions")
@click.option("--email", required=True)
def end_sessions(email: str) -> None:
    """Sign a user out everywhere (a lost laptop, a shared browser)."""
    try:
        with _work() as session:
            user = accounts.user_by_email(session=session, email=email)
            accounts.end_sessions(session=session, user=user)
            address = user.email
    except REFUSALS as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Every session of {address} has ended.")


@click.command("list-api-keys")
@click.option("--email", help="Only this user's keys.")
def list_api_keys(email: str | None) -> None:
    """List API keys, newest first: prefix, user, name, created, last used, revoked."""
    try:
        with _work() as session:
            user = accounts.user_by_email(session=session, email=email) if email else None
            for key in accounts.api_keys(session=session, user=user):
                revoked = f"revoked {_when(key.revoked_at)}" if key.revoked_at else "in use"
                used = _when(key.last_used_at)
                click.echo(f"{key.prefix}\t{key.user.email}\t{key.name or '-'}"
                           f"\tcreated {_when(key.created_at)}\tlast used {used}\t{revoked}")
    except REFUSALS as exc:
        raise click.ClickException(str(exc)) from None


@click.command("revoke-api-key")
@click.argument("prefix")
def revoke_api_key(prefix: str) -> None:
    """Revoke the API key whose prefix (crm_..., as list-api-keys shows) is PREFIX: requests with it
    are refused from now on."""
    try:
        with _work() as session:
            key = accounts.find_api_key(session=session, prefix=prefix)
            revoked = accounts.revoke_api_key(session=session, key=key)
            label = key.prefix
    except REFUSALS as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"API key {label} {'revoked' if revoked else 'was revoked already'}.")


COMMANDS = [list_users, deactivate_user, activate_user, set_password, end_sessions, list_api_keys,
            revoke_api_key]

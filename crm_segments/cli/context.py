"""Shared plumbing for commands: the app and a unit of work that commits or rolls back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import Flask
from sqlalchemy.orm import Session

from crm_segments.config import ConfigError
from crm_segments.extension import get_state


def make_app() -> Flask:
    from crm_segments import create_app

    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def unit_of_work(app: Flask) -> Iterator[Session]:
    """A session whose work is committed at the end, or rolled back if anything fails."""
    session = get_state(app).session_factory()
    try:
        with app.app_context():
            yield session
            session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()

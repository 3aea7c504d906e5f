"""Shared plumbing for commands: the app and a unit of work that commits or rolls back."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session

from crm_segments.config import ConfigError
from crm_segments.state import EXTENSION_KEY, get_state


def configure_logging() -> None:
    """Log the product's own events and every job failure to stderr for long-running commands."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # APScheduler logs every job start and finish at INFO; keep its warnings and errors only.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def under_host_app() -> bool:
    """True when the command runs inside a host's ``flask crm-segments ...``, in the host's process."""
    return has_app_context() and EXTENSION_KEY in current_app.extensions


def make_app(config: dict[str, Any] | None = None) -> Flask:
    """The app a command works on: under a host's ``flask crm-segments ...`` the host's app (its
    app.config decides, ``config`` is not applied), else the standalone app from the environment with
    ``config`` over it."""
    if under_host_app():
        host: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        return host
    from crm_segments import create_app

    try:
        return create_app(config)
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

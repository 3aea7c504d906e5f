"""One database session per request; the view that writes commits, teardown closes."""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy.orm import Session

from crm_segments.extension import get_state


def db_session() -> Session:
    if "crm_db" not in g:
        g.crm_db = get_state(current_app).session_factory()
    session: Session = g.crm_db
    return session


def close_session(_exc: BaseException | None = None) -> None:
    session: Session | None = g.pop("crm_db", None)
    if session is not None:
        session.close()  # rolls back anything a failed view left uncommitted

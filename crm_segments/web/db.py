"""One unit of work per request: a session that is committed when the response succeeds, rolled back
when it fails, and always closed.

Views never commit: a response below 400 commits everything the request wrote, any other response
(a refused form, an error page, an exception) rolls it back. GET and HEAD requests read in a deferred
SQLite transaction, so a page never takes the write lock. A streamed body must not use this session:
it is closed before the body is sent (see ``crm_segments.segments.members.export_csv``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Response, current_app, g, has_request_context, request
from sqlalchemy.orm import Session

from crm_segments.db import READ_ONLY
from crm_segments.state import get_state

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
View = TypeVar("View", bound=Callable[..., object])


def reads_only(view: View) -> View:
    """Mark a POST view that only reads (a preview): on SQLite it then never takes the write lock,
    so a slow preview cannot hold up the writers."""
    view.crm_reads_only = True  # type: ignore[attr-defined]
    return view


def _reading() -> bool:
    if not has_request_context():
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    return request.method in READ_METHODS or bool(getattr(view, "crm_reads_only", False))


def db_session() -> Session:
    if "crm_db" not in g:
        reading = _reading()
        g.crm_db = get_state(current_app).session_factory(execution_options=READ_ONLY if reading else {},
                                                          info={"crm_reading": reading})
    session: Session = g.crm_db
    return session


def writing_session() -> Session:
    """The request's session, able to write. A view marked ``reads_only`` that finds it must write
    after all (a sign-in that replaces an out-of-date password hash) calls this: its reading
    transaction ends and a writing one begins, so the slow part before it held no write lock."""
    session = db_session()
    if not session.info.get("crm_reading"):
        return session
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("a reading session holds changes; write through writing_session() only")
    session.close()
    g.crm_db = get_state(current_app).session_factory(info={"crm_reading": False})
    writing: Session = g.crm_db
    return writing


def end_unit_of_work(response: Response) -> Response:
    """Commit what a successful request wrote, roll back a failed one; runs before the body is sent,
    so a failed commit still turns into an error response rather than a lie."""
    session: Session | None = g.pop("crm_db", None)
    if session is None:
        return response
    try:
        if response.status_code < 400:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()  # the connection goes back to the pool before a streamed body starts
    return response


def close_session(_exc: BaseException | None = None) -> None:
    """Teardown: a request that ended in an unhandled exception never reached ``end_unit_of_work``."""
    session: Session | None = g.pop("crm_db", None)
    if session is not None:
        session.close()  # rolls back anything left uncommitted

"""Every API request but the OpenAPI description carries ``Authorization: Bearer <key>``."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flask import Response, current_app, g, request

from crm_segments.accounts import users
from crm_segments.db import READ_ONLY, utcnow
from crm_segments.models import User
from crm_segments.state import get_state
from crm_segments.web.db import db_session

from .errors import error_response
from .routes import Route


def api_key_guard(routes: Mapping[str, Route]) -> Callable[[], tuple[Response, int] | None]:
    """The blueprint's check before each request, given its routes by endpoint."""

    def require_api_key() -> tuple[Response, int] | None:
        return _require_api_key(routes.get((request.endpoint or "").rpartition(".")[2]))

    return require_api_key


def _require_api_key(route: Route | None) -> tuple[Response, int] | None:
    """Resolve the key's user, then check the route's roles (``Route.roles``)."""
    if route is not None and route.public:
        return None
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return _unauthorized("send an API key in the header 'Authorization: Bearer <key>'")
    user_id = _authenticated_user_id(secret.strip())
    if user_id is None:
        return _unauthorized("the API key is unknown or revoked, or its user is deactivated")
    user = db_session().get(User, user_id)
    if user is None:
        return _unauthorized("the API key is unknown or revoked, or its user is deactivated")
    g.crm_api_user = user
    if route is not None and user.role not in route.roles:
        return error_response(403, "forbidden",
                              f"{request.method} {request.path} needs the API key of {_who(route.roles)}")
    return None


def is_admin() -> bool:
    return bool(g.crm_api_user.role == "admin")


def forbidden_unless_admin_for(what: str) -> tuple[Response, int] | None:
    """A refusal that depends on the request's data (a query instead of a rule, another person's
    operation), which no route declaration can express; who may call a route goes in ``Route.roles``."""
    if is_admin():
        return None
    return error_response(403, "forbidden", f"{what} needs the API key of an admin")


def _who(roles: tuple[str, ...]) -> str:
    return "an admin" if roles == ("admin",) else f"one of: {', '.join(roles)}"


def _authenticated_user_id(secret: str) -> int | None:
    """Check the key before the request's own unit of work starts; its last use is written in a
    short transaction of its own (at most once a minute), so a read request stays a reader."""
    factory = get_state(current_app).session_factory
    now = utcnow()
    with factory(execution_options=READ_ONLY) as session:
        key = users.api_key_for(session=session, secret=secret)
        if key is None:
            return None
        key_id, user_id, stale = key.id, key.user_id, users.key_use_is_stale(key, now=now)
        # How audit trails (the consent history) name the key a change came through.
        g.crm_api_key_label = f"API key {key.prefix}" + (f" ({key.name})" if key.name else "")
    if stale:
        with factory() as session, session.begin():
            users.record_key_use(session=session, key_id=key_id, now=now)
    return user_id


def _unauthorized(message: str) -> tuple[Response, int]:
    response, status = error_response(401, "unauthorized", message)
    response.headers["WWW-Authenticate"] = "Bearer"
    return response, status

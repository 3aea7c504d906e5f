"""Every API request but the OpenAPI description carries ``Authorization: Bearer <key>``."""

from __future__ import annotations

from flask import Response, g, request

from crm_segments.services import users
from crm_segments.web.db import db_session

from .errors import error_response


def require_api_key() -> tuple[Response, int] | None:
    """Resolve the key's user, then check the route's roles (``Route.roles``)."""
    from . import ROUTES_BY_ENDPOINT  # the route table imports this module

    route = ROUTES_BY_ENDPOINT.get((request.endpoint or "").rpartition(".")[2])
    if route is not None and route.public:
        return None
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return _unauthorized("send an API key in the header 'Authorization: Bearer <key>'")
    session = db_session()
    user = users.user_for_api_key(session=session, secret=secret.strip())
    if user is None:
        return _unauthorized("the API key is unknown or revoked, or its user is deactivated")
    session.commit()  # keeps the key's last use
    g.crm_api_user = user
    if route is not None and user.role not in route.roles:
        return error_response(403, "forbidden",
                              f"{route.summary.lower()} needs the API key of: {', '.join(route.roles)}")
    return None


def _unauthorized(message: str) -> tuple[Response, int]:
    response, status = error_response(401, "unauthorized", message)
    response.headers["WWW-Authenticate"] = "Bearer"
    return response, status

"""Failed sign-ins limited per account and per address (Flask-Limiter).

Only failures count (a view sets ``g.crm_signin_failed``), so a person who types the password right is
never slowed down; once an account or an address has used up its limit, every attempt is refused
with 429 and Retry-After until the window has room again, the right password included. An unknown
email is counted like a known one, so the answer never tells whether an account exists.

Each app gets a limiter of its own (kept in ``app.extensions``), with its own storage: ``memory://``
counts per process, so hosts that run several processes point CRM_SEGMENTS_RATE_LIMIT_STORAGE_URI at
Redis or Memcached. The per-address count uses ``request.remote_addr``: behind a reverse proxy, wrap
the app in Werkzeug's ProxyFix so that is the client's address, not the proxy's.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, g, request
from flask import Response as FlaskResponse
from flask_limiter import Limiter, RequestLimit
from flask_login import current_user
from limits.errors import ConfigurationError
from werkzeug.wrappers import Response

from crm_segments.config import AccountSettings, ConfigError

EXTENSION_KEY = "crm_segments_signin_limiter"
# The pages that check a password, and the page each shows when it is refused for too many failures.
Refusal = Callable[[int], Response]
_refusals: dict[str, Refusal] = {}


def refused_with(endpoint: str) -> Callable[[Refusal], Refusal]:
    """Register the page an endpoint answers with when its limit is used up (given Retry-After)."""
    def register(page: Refusal) -> Refusal:
        _refusals[endpoint] = page
        return page
    return register


def failed_attempt() -> None:
    """Count this request's password check as a failure against the limits."""
    g.crm_signin_failed = True


def install_signin_limits(app: Flask, settings: AccountSettings, *endpoints: str) -> None:
    """Limit the POSTs of ``endpoints`` (the sign-in form, the change-password form): their views are
    wrapped in this app's limiter, so each app counts in its own storage."""
    try:
        limiter = Limiter(
            _address, storage_uri=settings.rate_limit_storage_uri, strategy="sliding-window-counter",
            key_prefix="crm_segments", headers_enabled=False, in_memory_fallback_enabled=True,
            # A host's own RATELIMIT_DEFAULT / RATELIMIT_APPLICATION belong to the host's limiter.
            default_limits_exempt_when=lambda: True, application_limits_exempt_when=lambda: True,
            on_breach=_refuse,
        )
        limiter.init_app(app)
    except ConfigurationError as exc:
        raise ConfigError(f"CRM_SEGMENTS_RATE_LIMIT_STORAGE_URI: {exc}") from None
    app.extensions[EXTENSION_KEY] = limiter
    limits = [(limit, key) for limit, key in ((settings.signin_limit_per_account, _account),
                                                (settings.signin_limit_per_address, _address)) if limit]
    for endpoint in endpoints:
        view: Callable[..., Any] = app.view_functions[endpoint]
        for limit, key in limits:
            view = limiter.limit(limit, key_func=key, methods=["POST"], deduct_when=_failed)(view)
        app.view_functions[endpoint] = view


def signin_limiter(app: Flask) -> Limiter:
    limiter: Limiter = app.extensions[EXTENSION_KEY]
    return limiter


def _failed(_response: Response) -> bool:
    return bool(g.get("crm_signin_failed"))


def _account() -> str:
    """The account tried: the form's email (as typed, case and spaces aside), else the signed-in
    person's. Hashed, so the storage holds no addresses."""
    email = request.form.get("email")
    if email is None and current_user.is_authenticated:
        email = current_user.email
    return "account:" + hashlib.sha256((email or "").strip().lower().encode()).hexdigest()


def _address() -> str:
    return "address:" + (request.remote_addr or "unknown")


def _refuse(limit: RequestLimit) -> FlaskResponse | None:
    page = _refusals.get(request.endpoint or "")
    if page is None:
        return None  # Flask-Limiter's plain 429
    retry_after = max(1, math.ceil(limit.reset_at - time.time()))
    response = current_app.make_response(page(retry_after))
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    current_app.logger.warning("sign-in refused: too many failed attempts (%s, %s)", limit.limit,
                               request.remote_addr)
    return response

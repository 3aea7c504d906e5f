"""Blueprints and request plumbing: a database session per request, login, CSRF, role checks."""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from crm_segments.state import get_state
from crm_segments.web.db import close_session, end_unit_of_work
from crm_segments.web.record_paths import install_record_paths

csrf = CSRFProtect()


def register_web(app: Flask, *, url_prefix: str, api_prefix: str) -> None:
    from crm_segments.web import api, auth, ui, webhooks

    app.after_request(end_unit_of_work)
    app.teardown_appcontext(close_session)
    if "csrf" not in app.extensions:
        csrf.init_app(app)
    auth.init_login(app)
    install_record_paths(app)  # before the routes that name a record type
    app.register_blueprint(auth.bp, url_prefix=url_prefix or None)
    app.register_blueprint(ui.create_blueprint(), url_prefix=url_prefix or None)
    api_bp = api.api_blueprint()
    csrf.exempt(api_bp)  # the API authenticates every request with an API key, not a cookie
    app.register_blueprint(api_bp, url_prefix=api_prefix)
    csrf.exempt(webhooks.bp)  # providers sign their requests; unsubscribe links carry a signed token
    app.register_blueprint(webhooks.bp, url_prefix=url_prefix or None)
    from crm_segments.web.security_headers import install_security_headers
    from crm_segments.web.signin_limits import install_signin_limits

    install_security_headers(app, get_state(app).settings)
    install_signin_limits(app, get_state(app).settings.accounts, "crm_auth.login",
                          "crm_ui.account_password")

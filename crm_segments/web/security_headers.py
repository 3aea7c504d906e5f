"""Security headers on every answer of the plugin, and the session cookie's attributes.

The Content-Security-Policy runs scripts and styles from this site only: no inline script, event
handler or style attribute (crm.js does what those did), no plugin objects, no other site's frames
around a page (``frame-ancestors 'none'``, and X-Frame-Options for old browsers). Pages of a host app
keep their own headers: only the plugin's blueprints get these, unless the app is the standalone one
(``cover_whole_app``), whose unknown addresses and error pages get them too. A header the host set
already is left as it is.

The session cookie is SameSite=Lax (a cross-site form post carries no session) and Secure when the
public URL is https. A hand-written hook rather than Flask-Talisman: Talisman sets its headers on
every response of the app, the host's pages included.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from crm_segments.config import Settings

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",  # the layout's empty favicon is a data: URL
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000"  # a year; only when the public URL is https
BLUEPRINTS = frozenset({"crm_auth", "crm_ui", "crm_api", "crm_webhooks"})
EXTENSION_KEY = "crm_segments.security_headers"


def install_security_headers(app: Flask, settings: Settings) -> None:
    https = settings.public_url.startswith("https://")
    # Flask's default for SAMESITE is None (the attribute left out); a host's own choice stands.
    if not app.config.get("SESSION_COOKIE_SAMESITE"):
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    if not app.config.get("REMEMBER_COOKIE_SAMESITE"):
        app.config["REMEMBER_COOKIE_SAMESITE"] = "Lax"
    if https:
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True
    app.extensions[EXTENSION_KEY] = {"whole_app": False, "https": https}
    app.after_request(add_security_headers)


def cover_whole_app(app: Flask) -> None:
    """The standalone app: every answer gets the headers, addresses outside the blueprints too."""
    app.extensions[EXTENSION_KEY]["whole_app"] = True


def add_security_headers(response: Response) -> Response:
    options = current_app.extensions[EXTENSION_KEY]
    if not (options["whole_app"] or request.blueprint in BLUEPRINTS):
        return response
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if options["https"]:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response

"""Form helpers every page may use: a confirmation form and redirects that stay on this site."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import redirect
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response


class ConfirmForm(FlaskForm):
    """Only the CSRF token: the page itself is the confirmation."""


def safe_path(target: str | None, fallback: str) -> str:
    """``target`` only if it is a path on this site (never an open redirect), else ``fallback``."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return fallback


def safe_redirect(target: str | None, fallback: str) -> Response:
    return redirect(safe_path(target, fallback))

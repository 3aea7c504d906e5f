"""Form helpers every page may use: a confirmation form, redirects that stay on this site, and a
page's JSON request body."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import redirect, request
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from crm_segments.kernel.json_text import parse_json


class ConfirmForm(FlaskForm):
    """Only the CSRF token: the page itself is the confirmation."""


def safe_path(target: str | None, fallback: str) -> str:
    """``target`` only if it is a path on this site (never an open redirect), else ``fallback``."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return fallback


def safe_redirect(target: str | None, fallback: str) -> Response:
    return redirect(safe_path(target, fallback))


def json_object() -> dict[str, Any] | None:
    """The request's body as a JSON object (a page's script sends one), or None if it is not one:
    not JSON, not UTF-8, nested too deep (kernel/json_text.py) or not an object."""
    try:
        body = parse_json(request.get_data())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None

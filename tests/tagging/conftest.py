"""Tagging page helpers (signed-in clients come from tests/signed_in.py)."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.signed_in import csrf_token_from


def page_token(client: FlaskClient, url: str = "/tags") -> str:
    return csrf_token_from(client.get(url))

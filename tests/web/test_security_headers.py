"""Security headers on the plugin's answers (pages, static files, the API, error pages of the
standalone app), none forced on a host's own pages; the session cookie is SameSite=Lax, and Secure with
HSTS when the public URL is https; no template carries inline script, handler or style."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from crm_segments.extension import CRMSegments
from crm_segments.models import User
from crm_segments.state import get_state
from crm_segments.web.security_headers import CONTENT_SECURITY_POLICY
from tests.factories import DEFAULT_PASSWORD
from tests.web.conftest import login
from tests.web.test_signin_limits import make_app

TEMPLATES = Path(__file__).resolve().parents[2] / "crm_segments" / "web" / "templates"
INLINE = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>|<style\b|\sstyle=|"
                    r"\son[a-z]+=|javascript:|style=\"", re.I)


def assert_secured(response: TestResponse) -> None:
    policy = response.headers["Content-Security-Policy"]
    assert policy == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_every_kind_of_answer_carries_the_headers(client: FlaskClient, sales_client: FlaskClient) -> None:
    for path in ("/login", "/profiles", "/account", "/static/crm_segments/crm.js", "/no/such/page",
                 "/api/v1/profiles", "/api/v1/openapi.json"):
        with sales_client.get(path) as response:  # a static file's answer holds the file open
            assert response.status_code in (200, 401, 404), path
            assert_secured(response)
    assert "Strict-Transport-Security" not in sales_client.get("/profiles").headers


def test_the_session_cookie_is_same_site_lax_and_not_secure_over_http(client: FlaskClient,
                                                                      sales_user: User) -> None:
    response = login(client, sales_user.email)
    cookie = response.headers["Set-Cookie"]
    assert "SameSite=Lax" in cookie and "HttpOnly" in cookie
    assert "Secure" not in cookie


def test_an_https_public_url_makes_the_cookie_secure_and_sends_hsts(
        database_url: str, session_factory: sessionmaker[Session], tmp_path: Path, sales_user: User) -> None:
    app = make_app(database_url, session_factory, tmp_path, public_url="https://crm.example.com")
    client = app.test_client()
    response = login(client, sales_user.email, DEFAULT_PASSWORD)
    assert response.status_code == 302
    assert "; Secure" in response.headers["Set-Cookie"] and "SameSite=Lax" in response.headers["Set-Cookie"]
    assert client.get("/login").headers["Strict-Transport-Security"] == "max-age=31536000"


@pytest.fixture
def host(database_url: str, session_factory: sessionmaker[Session], tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    host = Flask("host_app")
    host.config.update(SECRET_KEY="host-secret-key-0123456789", TESTING=True,
                       CRM_SEGMENTS_DATABASE_URL=database_url, SESSION_COOKIE_SAMESITE="Strict")

    @host.route("/")
    def host_home() -> str:
        return "the host's own home page"

    CRMSegments(host, url_prefix="/crm")
    get_state(host).session_factory = session_factory
    return host


def test_a_host_keeps_its_own_pages_and_cookie_choice(host: Flask, sales_user: User) -> None:
    client = host.test_client()
    assert "Content-Security-Policy" not in client.get("/").headers
    assert "Content-Security-Policy" not in client.get("/elsewhere").headers
    assert_secured(client.get("/crm/login"))
    response = login(client, sales_user.email, login_url="/crm/login")
    assert "SameSite=Strict" in response.headers["Set-Cookie"]


def test_no_template_has_inline_script_handlers_or_styles() -> None:
    found = [f"{path.relative_to(TEMPLATES)}: {match.group(0)}"
             for path in sorted(TEMPLATES.rglob("*.html"))
             for match in INLINE.finditer(path.read_text())]
    assert found == []

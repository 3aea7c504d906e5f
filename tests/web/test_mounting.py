"""A host app mounts the plugin under /crm: pages, links, static files and sign-in all stay under it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from crm_segments import CRMSegments
from crm_segments.models import User
from crm_segments.state import get_state
from tests.factories import ProfileFactory
from tests.web.conftest import csrf_token_from, login


@pytest.fixture
def host_client(database_url: str, session_factory: sessionmaker[Session], tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    host = Flask("host_app")
    host.config.update(SECRET_KEY="host-secret-key-0123456789", TESTING=True,
                       CRM_SEGMENTS_DATABASE_URL=database_url)

    @host.route("/")
    def host_home() -> str:
        return "the host's own home page"

    CRMSegments(host, url_prefix="/crm")
    get_state(host).session_factory = session_factory
    return host.test_client()


def test_pages_links_and_static_files_live_under_the_prefix(host_client: FlaskClient,
                                                           sales_user: User) -> None:
    assert host_client.get("/").get_data(as_text=True) == "the host's own home page"
    response = host_client.get("/crm/")
    assert response.status_code == 302 and response.location.startswith("/crm/login?next=")

    login_page = host_client.get("/crm/login").get_data(as_text=True)
    assert 'href="/crm/static/crm_segments/crm.css"' in login_page
    css = host_client.get("/crm/static/crm_segments/crm.css")
    assert css.status_code == 200 and b".badge-tag" in css.data
    css.close()

    response = login(host_client, sales_user.email, login_url="/crm/login")
    assert response.status_code == 302 and response.location == "/crm/"

    profile = ProfileFactory(last_name="Mounted")
    page = host_client.get("/crm/profiles?q=mounted").get_data(as_text=True)
    assert f'href="/crm/profiles/{profile.id}"' in page
    assert 'action="/crm/logout"' in page and 'action="/crm/profiles"' in page
    nav = re.findall(r'<nav class="mainnav".*?</nav>', page, re.S)[0]
    assert re.findall(r'href="([^"]+)"', nav)[:2] == ["/crm/", "/crm/profiles"]
    assert all(href.startswith("/crm/") for href in re.findall(r'href="([^"]+)"', page)
               if not href.startswith(("mailto:", "data:", "#")))  # "#main": the skip link

    assert host_client.get(f"/crm/profiles/{profile.id}").status_code == 200
    response = host_client.post("/crm/logout", data={"csrf_token": csrf_token_from(host_client.get("/crm/"))})
    assert response.location == "/crm/login"


def test_host_errors_are_left_to_the_host(host_client: FlaskClient) -> None:
    response = host_client.get("/no-such-host-page")
    assert response.status_code == 404
    assert "crm.css" not in response.get_data(as_text=True)  # the host's (Flask's) page, not ours

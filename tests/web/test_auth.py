"""Sign-in, sign-out, CSRF on both, role checks and the open-redirect guard."""

from __future__ import annotations

import re

import pytest
from flask import Blueprint, Flask
from flask.testing import FlaskClient

from crm_segments.models import User
from crm_segments.web.auth import role_required
from crm_segments.web.ui.layout import NAV_ITEMS
from tests.factories import UserFactory
from tests.web.conftest import csrf_token_from, login


def test_login_success_redirects_to_home_and_shows_user_and_role(
        client: FlaskClient, sales_user: User) -> None:
    response = login(client, "SAM.Sales@example.com ")  # case and spaces do not matter
    assert response.status_code == 302
    assert response.location == "/"
    page = client.get("/profiles").get_data(as_text=True)
    assert "Sam Sales" in page
    assert '<span class="badge badge-role">sales</span>' in page
    assert 'action="/logout"' in page


def test_wrong_password_is_refused_and_user_stays_anonymous(client: FlaskClient, sales_user: User) -> None:
    response = login(client, sales_user.email, password="not-the-password")
    assert response.status_code == 200
    assert "Wrong email or password." in response.get_data(as_text=True)
    assert client.get("/profiles").status_code == 302


def test_unknown_and_inactive_users_cannot_sign_in(client: FlaskClient, session: object) -> None:
    UserFactory(email="gone@example.com", is_active=False)
    assert login(client, "gone@example.com").status_code == 200
    assert login(client, "nobody@example.com").status_code == 200
    assert client.get("/profiles").status_code == 302


def test_anonymous_user_is_sent_to_login_with_next(client: FlaskClient) -> None:
    response = client.get("/profiles?q=smith")
    assert response.status_code == 302
    assert response.location.startswith("/login?next=")


def test_login_without_csrf_token_is_rejected(client: FlaskClient, sales_user: User) -> None:
    client.get("/login")
    response = client.post("/login", data={"email": sales_user.email, "password": "correct-horse-battery"})
    assert response.status_code == 400
    assert client.get("/profiles").status_code == 302


def test_logout_needs_post_with_csrf_token(sales_client: FlaskClient) -> None:
    assert sales_client.get("/logout").status_code == 405
    assert sales_client.post("/logout").status_code == 400
    page = sales_client.get("/profiles")
    assert page.status_code == 200  # still signed in

    response = sales_client.post("/logout", data={"csrf_token": csrf_token_from(page)})
    assert response.status_code == 302
    assert response.location == "/login"
    assert sales_client.get("/profiles").status_code == 302


@pytest.mark.parametrize(("next_url", "expected"), [
    ("/profiles?q=smith", "/profiles?q=smith"),
    ("https://evil.example/", "/"),
    ("//evil.example/", "/"),
    ("/\\evil.example/", "/"),
    ("/\t/evil.example/", "/"),
    ("javascript:alert(1)", "/"),
    ("evil.example", "/"),
])
def test_login_next_only_redirects_within_the_site(
        client: FlaskClient, sales_user: User, next_url: str, expected: str) -> None:
    token = csrf_token_from(client.get("/login"))
    response = client.post("/login", query_string={"next": next_url},
                           data={"email": sales_user.email, "password": "correct-horse-battery",
                                 "csrf_token": token})
    assert response.status_code == 302
    assert response.location == expected


@pytest.fixture
def admin_only_app(app: Flask) -> Flask:
    extra = Blueprint("test_admin_only", __name__)

    @extra.route("/admin-only")
    @role_required("admin")
    def admin_only() -> str:
        return "secret admin page"

    app.register_blueprint(extra)
    return app


def test_admin_only_page_is_forbidden_for_sales(admin_only_app: Flask, sales_client: FlaskClient) -> None:
    response = sales_client.get("/admin-only")
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "Forbidden" in page and "secret admin page" not in page
    assert 'href="/profiles"' in page  # rendered in the layout, with its navigation


def test_admin_only_page_is_open_to_admin(admin_only_app: Flask, admin_client: FlaskClient) -> None:
    response = admin_client.get("/admin-only")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "secret admin page"


def test_both_roles_browse_profiles(client: FlaskClient, sales_user: User, admin_user: User) -> None:
    for user in (sales_user, admin_user):
        login(client, user.email)
        assert client.get("/profiles").status_code == 200
        client.post("/logout", data={"csrf_token": csrf_token_from(client.get("/profiles"))})


def test_unknown_address_gets_the_not_found_page(sales_client: FlaskClient) -> None:
    response = sales_client.get("/no-such-page")
    assert response.status_code == 404
    assert "Not found" in response.get_data(as_text=True)


def test_navigation_lists_only_built_pages_the_role_may_open(app: Flask, client: FlaskClient,
                                                             sales_user: User, admin_user: User) -> None:
    def nav_links() -> list[str]:
        page = client.get("/profiles").get_data(as_text=True)
        nav = page.split('<nav class="mainnav"', 1)[1].split("</nav>", 1)[0]
        return re.findall(r">([^<]+)</a>", nav)

    login(client, sales_user.email)
    sales_nav = nav_links()
    client.post("/logout", data={"csrf_token": csrf_token_from(client.get("/profiles"))})
    login(client, admin_user.email)
    admin_nav = nav_links()

    assert sales_nav[:2] == admin_nav[:2] == ["Home", "Profiles"]
    built = {item.label for item in NAV_ITEMS if item.endpoint in app.view_functions}
    assert set(admin_nav) == built
    assert set(sales_nav) == {item.label for item in NAV_ITEMS
                              if item.label in built and "sales" in item.roles}
    if "Import" in built:
        assert "Import" not in sales_nav

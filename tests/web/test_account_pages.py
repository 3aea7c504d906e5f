"""Account pages: your own password and API keys; an admin's users pages (deactivate, reset a
password, end sessions, revoke keys). Sessions end as they should and the API refuses revoked keys."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.accounts import users
from crm_segments.models import ApiKey, User
from tests.factories import DEFAULT_PASSWORD, AdminFactory
from tests.web.conftest import csrf_token_from, login
from tests.web.test_signin_limits import make_app

NEW_PASSWORD = "a-fresh-long-passphrase"


def post_form(client: FlaskClient, page_url: str, url: str, **data: str) -> tuple[int, str, str | None]:
    token = csrf_token_from(client.get(page_url))
    response = client.post(url, data={"csrf_token": token, **data})
    return response.status_code, response.get_data(as_text=True), response.location


def api_key(session: Session, user: User) -> tuple[ApiKey, str]:
    key, secret = users.create_api_key(session=session, email=user.email, name="host crm")
    key.last_used_at = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
    session.flush()
    return key, secret


def api_status(client: FlaskClient, secret: str) -> int:
    return client.get("/api/v1/profiles", headers={"Authorization": f"Bearer {secret}"}).status_code


def test_change_your_own_password(app: Flask, sales_client: FlaskClient, sales_user: User) -> None:
    other = app.test_client()
    assert login(other, sales_user.email).status_code == 302

    status, page, _ = post_form(sales_client, "/account", "/account/password", current_password="wrong guess",
                                new_password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert status == 422 and "is not your password" in page
    status, page, _ = post_form(sales_client, "/account", "/account/password",
                                current_password=DEFAULT_PASSWORD, new_password="password1234",
                                confirm="password1234")
    assert status == 422 and "most common passwords" in page
    status, page, _ = post_form(sales_client, "/account", "/account/password",
                                current_password=DEFAULT_PASSWORD, new_password=NEW_PASSWORD,
                                confirm="something else entirely")
    assert status == 422 and "does not match" in page
    assert login(app.test_client(), sales_user.email).status_code == 302  # nothing changed yet

    status, _, location = post_form(sales_client, "/account", "/account/password",
                                    current_password=DEFAULT_PASSWORD, new_password=NEW_PASSWORD,
                                    confirm=NEW_PASSWORD)
    assert status == 303 and location == "/account"
    assert sales_client.get("/profiles").status_code == 200  # this browser stays signed in
    assert other.get("/profiles").status_code == 302  # the other session has ended
    assert login(app.test_client(), sales_user.email).status_code == 200  # the old password is refused
    assert login(app.test_client(), sales_user.email, NEW_PASSWORD).status_code == 302


def test_guessing_the_current_password_is_limited(database_url: str, session_factory: sessionmaker[Session],
                                                 tmp_path: Path, sales_user: User) -> None:
    app = make_app(database_url, session_factory, tmp_path, signin_limit_per_account="3 per 15 minutes")
    client = app.test_client()
    assert login(client, sales_user.email).status_code == 302
    for _ in range(3):
        status, _, _ = post_form(client, "/account", "/account/password", current_password="wrong guess",
                                 new_password=NEW_PASSWORD, confirm=NEW_PASSWORD)
        assert status == 422
    status, page, _ = post_form(client, "/account", "/account/password", current_password=DEFAULT_PASSWORD,
                                new_password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert status == 429 and "Too many wrong current passwords" in page
    assert login(app.test_client(), sales_user.email).status_code == 302  # the password is unchanged


def test_your_api_keys_with_last_use_and_revoking(app: Flask, sales_client: FlaskClient, sales_user: User,
                                                  admin_user: User, session: Session) -> None:
    key, secret = api_key(session, sales_user)
    admins_key, _ = api_key(session, admin_user)
    page = sales_client.get("/account").get_data(as_text=True)
    assert key.prefix in page and "2026-12-01 09:30 UTC" in page and secret not in page
    assert admins_key.prefix not in page
    assert api_status(app.test_client(), secret) == 200

    status, _, _ = post_form(sales_client, "/account", f"/account/api-keys/{admins_key.id}/revoke")
    assert status == 404
    status, _, _ = post_form(sales_client, "/account", f"/account/api-keys/{key.id}/revoke")
    assert status == 303
    assert "revoked 20" in sales_client.get("/account").get_data(as_text=True)
    assert api_status(app.test_client(), secret) == 401
    session.refresh(admins_key)
    assert admins_key.revoked_at is None


def test_users_pages_are_for_admins(sales_client: FlaskClient, sales_user: User) -> None:
    assert sales_client.get("/users").status_code == 403
    assert sales_client.get(f"/users/{sales_user.id}").status_code == 403
    assert 'href="/users"' not in sales_client.get("/profiles").get_data(as_text=True)
    assert sales_client.post(f"/users/{sales_user.id}/active", data={"active": "0"}).status_code in (400, 403)


def test_deactivate_and_reactivate_a_user(app: Flask, admin_client: FlaskClient, admin_user: User,
                                          sales_user: User, session: Session) -> None:
    _, secret = api_key(session, sales_user)
    sales = app.test_client()
    assert login(sales, sales_user.email).status_code == 302
    listing = admin_client.get("/users").get_data(as_text=True)
    assert sales_user.email in listing and 'href="/users"' in listing

    page_url = f"/users/{sales_user.id}"
    status, _, _ = post_form(admin_client, page_url, f"{page_url}/active", active="0")
    assert status == 303
    assert "deactivated" in admin_client.get(page_url).get_data(as_text=True)
    assert sales.get("/profiles").status_code == 302
    assert login(app.test_client(), sales_user.email).status_code == 200
    assert api_status(app.test_client(), secret) == 401

    status, _, _ = post_form(admin_client, page_url, f"{page_url}/active", active="1")
    assert status == 303
    assert login(app.test_client(), sales_user.email).status_code == 302
    assert api_status(app.test_client(), secret) == 200


def test_an_admin_cannot_deactivate_themselves(admin_client: FlaskClient, admin_user: User,
                                               session: Session) -> None:
    page_url = f"/users/{admin_user.id}"
    post_form(admin_client, page_url, f"{page_url}/active", active="0")
    session.refresh(admin_user)
    assert admin_user.is_active
    assert "You cannot deactivate yourself" in admin_client.get(page_url).get_data(as_text=True)

    other = AdminFactory(email="other.admin@example.com")
    post_form(admin_client, f"/users/{other.id}", f"/users/{other.id}/active", active="0")
    session.refresh(other)
    assert not other.is_active  # two active admins: one may go


def test_reset_a_users_password(app: Flask, admin_client: FlaskClient, sales_user: User) -> None:
    sales = app.test_client()
    assert login(sales, sales_user.email).status_code == 302
    page_url = f"/users/{sales_user.id}"

    status, page, _ = post_form(admin_client, page_url, f"{page_url}/password", new_password="short",
                                confirm="short")
    assert status == 422 and "at least 12 characters" in page
    assert sales.get("/profiles").status_code == 200

    status, page, _ = post_form(admin_client, page_url, f"{page_url}/password", new_password=NEW_PASSWORD,
                                confirm=NEW_PASSWORD)
    assert status == 200 and NEW_PASSWORD not in page
    assert sales.get("/profiles").status_code == 302
    assert login(app.test_client(), sales_user.email, NEW_PASSWORD).status_code == 302

    status, page, _ = post_form(admin_client, page_url, f"{page_url}/password", generate="Generate one")
    shown = re.search(r'id="new-password".*?<code>([^<]+)</code>', page, re.S)
    assert status == 200 and shown
    assert login(app.test_client(), sales_user.email, shown.group(1)).status_code == 302
    assert shown.group(1) not in admin_client.get(page_url).get_data(as_text=True)  # shown once


def test_end_a_users_sessions_and_revoke_their_key(app: Flask, admin_client: FlaskClient, sales_user: User,
                                                   session: Session) -> None:
    key, secret = api_key(session, sales_user)
    sales = app.test_client()
    assert login(sales, sales_user.email).status_code == 302
    page_url = f"/users/{sales_user.id}"
    assert key.prefix in admin_client.get(page_url).get_data(as_text=True)

    assert post_form(admin_client, page_url, f"{page_url}/end-sessions")[0] == 303
    assert sales.get("/profiles").status_code == 302
    assert admin_client.get("/profiles").status_code == 200

    elsewhere = f"/users/{sales_user.id + 1000}/api-keys/{key.id}/revoke"
    assert post_form(admin_client, page_url, elsewhere)[0] == 404
    assert post_form(admin_client, page_url, f"{page_url}/api-keys/{key.id}/revoke")[0] == 303
    assert api_status(app.test_client(), secret) == 401


def test_actions_need_the_csrf_token(admin_client: FlaskClient, sales_user: User, session: Session) -> None:
    assert admin_client.post(f"/users/{sales_user.id}/active", data={"active": "0"}).status_code == 400
    assert admin_client.post(f"/users/{sales_user.id}/end-sessions").status_code == 400
    session.refresh(sales_user)
    assert sales_user.is_active and sales_user.session_version == 0

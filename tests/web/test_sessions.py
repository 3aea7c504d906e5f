"""Sessions end at sign-out (every copy of the cookie), when the password changes and when the person
is deactivated: the cookie carries the user's session version, which each of those raises."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from crm_segments.accounts import management as accounts
from crm_segments.models import User
from tests.web.conftest import csrf_token_from, login


def session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def test_a_copy_of_the_cookie_stops_working_at_sign_out(app: Flask, sales_client: FlaskClient) -> None:
    saved = session_cookie(sales_client)
    page = sales_client.get("/profiles")
    assert sales_client.post("/logout", data={"csrf_token": csrf_token_from(page)}).status_code == 302

    replay = app.test_client()
    replay.set_cookie("session", saved)
    response = replay.get("/profiles")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_sign_out_ends_the_persons_other_sessions(app: Flask, sales_user: User) -> None:
    laptop, phone = app.test_client(), app.test_client()
    assert login(laptop, sales_user.email).status_code == 302
    assert login(phone, sales_user.email).status_code == 302
    assert phone.get("/profiles").status_code == 200

    page = laptop.get("/profiles")
    laptop.post("/logout", data={"csrf_token": csrf_token_from(page)})
    assert phone.get("/profiles").status_code == 302
    assert login(phone, sales_user.email).status_code == 302  # signing in again works
    assert phone.get("/profiles").status_code == 200


def test_a_new_password_ends_sessions(app: Flask, sales_client: FlaskClient, sales_user: User,
                                      session: Session) -> None:
    assert sales_client.get("/profiles").status_code == 200
    accounts.set_password(session=session, user=sales_user, password="a-brand-new-passphrase")
    assert sales_client.get("/profiles").status_code == 302
    assert login(sales_client, sales_user.email, "a-brand-new-passphrase").status_code == 302


def test_deactivation_ends_sessions(app: Flask, sales_client: FlaskClient, sales_user: User,
                                    session: Session) -> None:
    assert sales_client.get("/profiles").status_code == 200
    accounts.set_active(session=session, user=sales_user, active=False)
    assert sales_client.get("/profiles").status_code == 302
    assert login(sales_client, sales_user.email).status_code == 200  # refused
    accounts.set_active(session=session, user=sales_user, active=True)
    assert login(sales_client, sales_user.email).status_code == 302


def test_a_token_without_a_version_or_out_of_range_signs_nobody_in(app: Flask, sales_user: User) -> None:
    from crm_segments.web.auth import load_user

    with app.test_request_context():
        assert load_user(f"{sales_user.id}:{sales_user.session_version}") is not None
        assert load_user(str(sales_user.id)) is None  # a cookie made before session versions
        assert load_user(f"{sales_user.id}:{sales_user.session_version + 1}") is None
        assert load_user(f"{2**40}:0") is None
        assert load_user("x:0") is None

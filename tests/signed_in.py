"""Signed-in test clients and CSRF tokens taken from the pages, as a browser would.

A pytest plugin (listed in tests/conftest.py), so every test folder has the same fixtures.
"""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from crm_segments.models import User
from tests.factories import DEFAULT_PASSWORD, AdminFactory, UserFactory

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token_from(response: TestResponse) -> str:
    match = _CSRF.search(response.get_data(as_text=True))
    assert match, "the page has no CSRF token"
    return match.group(1)


def login(client: FlaskClient, email: str, password: str = DEFAULT_PASSWORD,
          login_url: str = "/login") -> TestResponse:
    token = csrf_token_from(client.get(login_url))
    return client.post(login_url, data={"email": email, "password": password, "csrf_token": token})


@pytest.fixture
def sales_user(session: object) -> User:
    return UserFactory(email="sam.sales@example.com", name="Sam Sales", role="sales")  # type: ignore[no-any-return]


@pytest.fixture
def admin_user(session: object) -> User:
    return AdminFactory(email="ada.admin@example.com", name="Ada Admin")  # type: ignore[no-any-return]


@pytest.fixture
def sales_client(client: FlaskClient, sales_user: User) -> FlaskClient:
    assert login(client, sales_user.email).status_code == 302
    return client


@pytest.fixture
def admin_client(client: FlaskClient, admin_user: User) -> FlaskClient:
    assert login(client, admin_user.email).status_code == 302
    return client

"""Signed-in clients for the tagging pages (the same helpers as tests/web)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from crm_segments.models import User
from tests.factories import AdminFactory, UserFactory
from tests.web.conftest import csrf_token_from, login


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


def page_token(client: FlaskClient, url: str = "/tags") -> str:
    return csrf_token_from(client.get(url))

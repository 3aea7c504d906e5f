"""An API client that sends a valid key, and helpers to count rows."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.accounts import users
from crm_segments.models import ApiKey
from tests.factories import UserFactory
from tests.records.conftest import changed  # noqa: F401  (fixture shared with the service tests)


class Api:
    """``client`` calls under /api/v1 with ``Authorization: Bearer <key>``."""

    def __init__(self, client: FlaskClient, secret: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {secret}"}

    def __getattr__(self, method: str) -> Any:
        call = getattr(self.client, method)

        def request(path: str, **kwargs: Any) -> Any:
            return call(f"/api/v1{path}", headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

        return request


@pytest.fixture
def api_key(session: Session) -> tuple[ApiKey, str]:
    """The host CRM's key: an admin's, since it writes profiles and records."""
    user = UserFactory(role="admin")
    return users.create_api_key(session=session, email=user.email, name="host CRM")


@pytest.fixture
def api(client: FlaskClient, api_key: tuple[ApiKey, str]) -> Api:
    return Api(client, api_key[1])


@pytest.fixture
def sales_api(client: FlaskClient, session: Session) -> Api:
    user = UserFactory(role="sales")
    return Api(client, users.create_api_key(session=session, email=user.email, name="sales key")[1])


def count(session: Session, model: type[Any]) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(model)) or 0)

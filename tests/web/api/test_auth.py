"""Every endpoint but the OpenAPI description needs a valid, unrevoked key of an active user."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from crm_segments.db import utcnow
from crm_segments.models import ApiKey

from .conftest import Api


def test_no_key_is_refused_with_json(client: FlaskClient, backend: str) -> None:
    response = client.get("/api/v1/profiles")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert "Authorization: Bearer" in response.json["error"]["message"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_unknown_key_is_refused(client: FlaskClient, api_key: tuple[ApiKey, str], backend: str) -> None:
    key, secret = api_key
    for header in (f"Bearer {key.prefix}.wrong-secret", "Bearer nonsense", f"Basic {secret}", "Bearer "):
        response = client.get("/api/v1/profiles", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json["error"]["code"] == "unauthorized"


def test_valid_key_is_accepted_and_its_use_recorded(api: Api, api_key: tuple[ApiKey, str],
                                                    session: Session) -> None:
    assert api.get("/profiles").status_code == 200
    session.refresh(api_key[0])
    assert api_key[0].last_used_at is not None


def test_revoked_key_is_refused(api: Api, api_key: tuple[ApiKey, str], session: Session) -> None:
    api_key[0].revoked_at = utcnow()
    session.flush()
    assert api.get("/profiles").status_code == 401


def test_key_of_a_deactivated_user_is_refused(api: Api, api_key: tuple[ApiKey, str],
                                              session: Session) -> None:
    api_key[0].user.is_active = False
    session.flush()
    assert api.get("/profiles").status_code == 401


def test_openapi_needs_no_key(client: FlaskClient, backend: str) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json["openapi"].startswith("3.1")

"""Every endpoint but the OpenAPI description needs a valid, unrevoked key of an active user."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.db import utcnow
from crm_segments.models import ApiKey, Profile

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


def test_sales_keys_read_records_but_only_admin_keys_write_them(api: Api, sales_api: Api,
                                                                session: Session) -> None:
    created = api.post("/profiles", json={"external_id": "C-9", "email": "c9@example.com"})
    assert created.status_code == 201
    profile_id = created.json["id"]
    assert sales_api.get(f"/profiles/{profile_id}").status_code == 200
    assert sales_api.get("/profiles").status_code == 200
    for method, path, body in [
        ("post", "/profiles", {"external_id": "C-10"}),
        ("patch", f"/profiles/{profile_id}", {"city": "Leeds"}),
        ("put", "/profiles/by-external-id/C-9", {"city": "Leeds"}),
        ("post", "/profiles/batch-upsert", {"items": [{"external_id": "C-11"}]}),
        ("delete", f"/profiles/{profile_id}", None),
    ]:
        refused = getattr(sales_api, method)(path, **({"json": body} if body is not None else {}))
        assert refused.status_code == 403, (method, path)
        assert refused.json["error"]["code"] == "forbidden"
        assert "admin" in refused.json["error"]["message"]
    session.expire_all()
    assert session.get(Profile, profile_id).city is None  # type: ignore[union-attr]
    assert session.scalar(select(func.count()).select_from(Profile)) == 1


def test_openapi_names_the_role_a_route_needs(api: Api) -> None:
    spec = api.get("/openapi.json").json
    create = spec["paths"]["/profiles"]["post"]
    assert "403" in create["responses"] and "admin" in create["description"]
    assert "403" not in spec["paths"]["/profiles"]["get"]["responses"]

"""Saved views through the API: each person's own, shared ones by an admin, refusals that change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.accounts import users
from crm_segments.models import SavedView
from tests.factories import AdminFactory, UserFactory
from tests.web.api.conftest import Api

QUOTES_SENT = {"list": "quotes", "name": "Sent, big first", "filters": {"status": "sent", "q": ""},
               "sort": "-amount", "columns": ["label", "amount", "sent_at"]}


def _api(client: FlaskClient, session: Session, role: str) -> Api:
    user = AdminFactory() if role == "admin" else UserFactory(role="sales")
    _key, secret = users.create_api_key(session=session, email=user.email, name=f"{role} key")
    return Api(client, secret)


@pytest.fixture
def admin(client: FlaskClient, session: Session) -> Api:
    return _api(client, session, "admin")


@pytest.fixture
def sales(client: FlaskClient, session: Session) -> Api:
    return _api(client, session, "sales")


def _matches_spec(api: Api, path: str, method: str, status: int, body: Any) -> None:
    spec = api.client.get("/api/v1/openapi.json").json
    schema = spec["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": spec["components"]}).validate(body)


def _count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(SavedView)) or 0)


def test_save_list_rename_and_delete_a_view(sales: Api, admin: Api, session: Session) -> None:
    made = sales.post("/saved-views", json=QUOTES_SENT)
    assert made.status_code == 201, made.json
    _matches_spec(sales, "/saved-views", "post", 201, made.json)
    assert made.json["filters"] == {"status": "sent"}  # blank filters are dropped
    assert (made.json["list"], made.json["sort"], made.json["columns"]) == (
        "quotes", "-amount", ["label", "amount", "sent_at"])
    view_id = made.json["id"]

    listed = sales.get("/saved-views?list=quotes")
    _matches_spec(sales, "/saved-views", "get", 200, listed.json)
    assert [v["name"] for v in listed.json["items"]] == ["Sent, big first"]
    assert sales.get("/saved-views?list=jobs").json["items"] == []
    assert admin.get("/saved-views?list=quotes").json["items"] == []  # not shared: the owner's alone
    assert admin.get(f"/saved-views/{view_id}").status_code == 404

    renamed = sales.patch(f"/saved-views/{view_id}", json={"name": "Sent quotes"})
    assert renamed.status_code == 200 and renamed.json["name"] == "Sent quotes"
    assert renamed.json["filters"] == {"status": "sent"}  # the rest kept
    assert sales.delete(f"/saved-views/{view_id}").status_code == 204
    assert sales.get(f"/saved-views/{view_id}").status_code == 404


def test_shared_views_are_seen_by_all_and_changed_by_admins(sales: Api, admin: Api) -> None:
    refused = sales.post("/saved-views", json={**QUOTES_SENT, "shared": True})
    assert refused.status_code == 403 and "admin" in refused.json["error"]["message"]

    shared = admin.post("/saved-views", json={**QUOTES_SENT, "shared": True}).json
    seen = sales.get("/saved-views?list=quotes").json["items"]
    assert [(v["id"], v["changeable"]) for v in seen] == [(shared["id"], False)]
    assert sales.patch(f"/saved-views/{shared['id']}", json={"name": "Mine now"}).status_code == 403
    assert sales.delete(f"/saved-views/{shared['id']}").status_code == 403
    assert admin.get(f"/saved-views/{shared['id']}").json["name"] == "Sent, big first"


@pytest.mark.parametrize(("body", "field"), [
    ({**QUOTES_SENT, "list": "invoices"}, "list"),
    ({**QUOTES_SENT, "filters": {"password": "x"}}, "filters.password"),
    ({**QUOTES_SENT, "filters": {"status": "lost"}}, "filters.status"),
    ({**QUOTES_SENT, "filters": {"amount_min": "lots"}}, "filters.amount_min"),
    ({**QUOTES_SENT, "sort": "-secret"}, "sort"),
    ({**QUOTES_SENT, "columns": ["label", "password_hash"]}, "columns[1]"),
    ({**QUOTES_SENT, "name": "  "}, "name"),
    ({"list": "profiles", "name": "Bad segment", "filters": {"segment": "abc"}}, "filters.segment"),
])
def test_bad_views_are_refused_naming_the_field(sales: Api, session: Session, body: dict[str, Any],
                                                 field: str) -> None:
    before = _count(session)
    refused = sales.post("/saved-views", json=body)
    assert refused.status_code == 422, refused.json
    assert field in [f["field"] for f in refused.json["error"]["fields"]]
    assert _count(session) == before


def test_a_name_is_unique_per_person_and_list(sales: Api, admin: Api) -> None:
    assert sales.post("/saved-views", json=QUOTES_SENT).status_code == 201
    clash = sales.post("/saved-views", json=QUOTES_SENT)
    assert clash.status_code == 409 and clash.json["error"]["fields"][0]["field"] == "name"
    assert sales.post("/saved-views", json={"list": "jobs", "name": QUOTES_SENT["name"]}).status_code == 201
    assert admin.post("/saved-views", json=QUOTES_SENT).status_code == 201  # another person's

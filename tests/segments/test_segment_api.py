"""JSON API /api/v1/segments: CRUD, preview, members, refresh, events, overlap; admin-only changes."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from sqlalchemy.orm import Session

from crm_segments.accounts import users
from crm_segments.models import Segment
from tests.factories import AdminFactory, ProfileFactory, UserFactory
from tests.web.api.conftest import Api

ONTARIO = {"field": "region", "op": "eq", "value": "Ontario"}


def _api(client: FlaskClient, session: Session, role: str) -> Api:
    user = AdminFactory() if role == "admin" else UserFactory(role="sales")
    _key, secret = users.create_api_key(session=session, email=user.email, name=f"{role} key")
    return Api(client, secret)


@pytest.fixture
def admin_api(client: FlaskClient, session: Session) -> Api:
    return _api(client, session, "admin")


@pytest.fixture
def sales_api(client: FlaskClient, session: Session) -> Api:
    return _api(client, session, "sales")


def _matches_spec(api: Api, path: str, method: str, status: int, body: Any) -> None:
    spec = api.client.get("/api/v1/openapi.json").json
    schema = spec["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": spec["components"]}).validate(body)


def test_create_refresh_members_events(admin_api: Api, session: Session) -> None:
    inside = [ProfileFactory(region="Ontario", first_name="Ada") for _ in range(3)]
    ProfileFactory(region="Quebec")

    created = admin_api.post("/segments", json={"name": "Ontario", "rule": ONTARIO})
    assert created.status_code == 201, created.json
    _matches_spec(admin_api, "/segments", "post", 201, created.json)
    segment_id = created.json["id"]
    assert created.json["rule_text"] == "Region is Ontario" and created.json["member_count"] == 0

    refreshed = admin_api.post(f"/segments/{segment_id}/refresh")
    assert refreshed.json == {"segment_id": segment_id, "ok": True, "size": 3, "entered": 3, "exited": 0,
                              "duration_ms": refreshed.json["duration_ms"], "error": None}

    first = admin_api.get(f"/segments/{segment_id}/members?limit=2")
    _matches_spec(admin_api, "/segments/{id}/members", "get", 200, first.json)
    second = admin_api.get(f"/segments/{segment_id}/members?limit=2&after={first.json['next_after']}")
    ids = [m["id"] for m in first.json["items"] + second.json["items"]]
    assert ids == sorted(p.id for p in inside) and second.json["next_after"] is None

    inside[0].region = "Quebec"
    session.flush()
    assert admin_api.post(f"/segments/{segment_id}/refresh").json["exited"] == 1
    events = admin_api.get(f"/segments/{segment_id}/events")
    _matches_spec(admin_api, "/segments/{id}/events", "get", 200, events.json)
    assert [(e["kind"], e["profile_id"]) for e in events.json["items"]] == [("exited", inside[0].id)]

    got = admin_api.get(f"/segments/{segment_id}")
    assert got.json["member_count"] == 2 and got.json["version"] == 2
    _matches_spec(admin_api, "/segments/{id}", "get", 200, got.json)


def test_update_delete_and_errors(admin_api: Api, session: Session) -> None:
    segment_id = admin_api.post("/segments", json={"name": "Ontario", "rule": ONTARIO}).json["id"]

    wrong_op = {"field": "region", "op": "gt", "value": 1}
    bad = admin_api.patch(f"/segments/{segment_id}", json={"rule": wrong_op})
    assert bad.status_code == 422 and bad.json["error"]["fields"][0]["field"] == "rule.op"
    clash = admin_api.post("/segments", json={"name": "ontario", "rule": ONTARIO})
    assert clash.status_code == 409
    renamed = admin_api.patch(f"/segments/{segment_id}", json={"name": "Ontarians"})
    assert renamed.status_code == 200 and renamed.json["name"] == "Ontarians"
    assert admin_api.delete(f"/segments/{segment_id}").status_code == 204
    assert admin_api.get(f"/segments/{segment_id}").status_code == 404


def test_preview_and_overlap(admin_api: Api, session: Session) -> None:
    ProfileFactory(region="Ontario", email_consent=True, company_size=500)
    ProfileFactory(region="Ontario", company_size=5)
    ProfileFactory(region="Quebec", company_size=900)

    preview = admin_api.post("/segments/preview", json={"rule": ONTARIO, "sample_size": 1})
    assert preview.status_code == 200
    assert (preview.json["count"], preview.json["email_reachable"], len(preview.json["sample"])) == (2, 1, 1)
    _matches_spec(admin_api, "/segments/preview", "post", 200, preview.json)
    refused = admin_api.post("/segments/preview", json={"rule": {"all": []}})
    assert refused.status_code == 422 and refused.json["error"]["fields"][0]["field"] == "rule.all"

    a = admin_api.post("/segments", json={"name": "A", "rule": ONTARIO}).json["id"]
    b = admin_api.post("/segments", json={"name": "B", "rule": {"field": "company_size", "op": "gte",
                                                                "value": 100}}).json["id"]
    admin_api.post(f"/segments/{a}/refresh")
    admin_api.post(f"/segments/{b}/refresh")
    overlap = admin_api.get(f"/segments/{a}/overlap/{b}")
    assert overlap.json == {"a_only": 1, "b_only": 1, "both": 1, "union": 3}


def test_static_list_members_by_api(admin_api: Api, session: Session) -> None:
    people = [ProfileFactory() for _ in range(2)]
    segment_id = admin_api.post("/segments", json={"name": "List", "kind": "static"}).json["id"]

    added = admin_api.post(f"/segments/{segment_id}/members",
                           json={"action": "add", "profile_ids": [p.id for p in people]})
    assert added.json == {"entered": 2, "exited": 0, "member_count": 2}
    unknown = {"action": "add", "profile_ids": [999999]}
    missing = admin_api.post(f"/segments/{segment_id}/members", json=unknown)
    assert missing.status_code == 422
    events = admin_api.get(f"/segments/{segment_id}/events").json["items"]
    assert {e["source"] for e in events} == {"api"}


def test_sales_keys_read_but_do_not_change(sales_api: Api, session: Session) -> None:
    segment = Segment(name="Ontario", kind="live", rule=ONTARIO)
    session.add(segment)
    session.flush()

    assert sales_api.get("/segments").status_code == 200
    assert sales_api.get(f"/segments/{segment.id}/members").status_code == 200
    assert sales_api.post("/segments/preview", json={"rule": ONTARIO}).status_code == 200
    for response in (
        sales_api.post("/segments", json={"name": "Mine", "rule": ONTARIO}),
        sales_api.patch(f"/segments/{segment.id}", json={"name": "Renamed"}),
        sales_api.delete(f"/segments/{segment.id}"),
        sales_api.post("/segments/preview", json={"query_sql": "SELECT id FROM crm_profiles"}),
        sales_api.post(f"/segments/{segment.id}/members", json={"action": "add", "profile_ids": [1]}),
    ):
        assert response.status_code == 403, response.json
    session.refresh(segment)
    assert segment.name == "Ontario"


def test_no_key_no_access(client: FlaskClient, session: Session) -> None:
    assert client.get("/api/v1/segments").status_code == 401

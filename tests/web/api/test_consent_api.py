"""The API writes consent history for what it changes, naming the key's user and the key, and returns a
profile's history (newest first, keyset pages), as its OpenAPI description says."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy.orm import Session

from crm_segments.models import ApiKey
from tests.factories import ProfileFactory

from .conftest import Api

pytestmark = pytest.mark.usefixtures("backend")
PATH = "/profiles/{id}/consent-history"


def _check(spec: dict[str, Any], status: int, body: Any) -> None:
    schema = spec["paths"][PATH]["get"]["responses"][str(status)]["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": spec["components"]}).validate(body)


def test_changes_through_the_api_are_in_the_history_it_returns(
        api: Api, sales_api: Api, api_key: tuple[ApiKey, str], session: Session) -> None:
    spec = api.get("/openapi.json").json
    created = api.post("/profiles", json={"external_id": "C-1", "email_consent": True, "sms_consent": False})
    assert created.status_code == 201
    profile_id = created.json["id"]
    api.patch(f"/profiles/{profile_id}", json={"email_consent": False})
    api.put("/profiles/by-external-id/C-1", json={"sms_consent": True})
    api.post("/profiles/batch-upsert", json={"items": [{"external_id": "C-1", "first_name": "Cy"}]})

    history = sales_api.get(PATH.format(id=profile_id))  # any key reads it
    assert history.status_code == 200
    _check(spec, 200, history.json)
    body = history.json
    assert (body["profile_id"], body["email_consent"], body["sms_consent"]) == (profile_id, False, True)
    assert [(i["channel"], i["old_value"], i["new_value"]) for i in body["items"]] == [
        ("sms", False, True), ("email", True, False), ("email", False, True)]
    key, _ = api_key
    assert {(i["source"], i["actor"], i["user_id"]) for i in body["items"]} == {
        ("api", f"{key.user.email}, API key {key.prefix} (host CRM)", key.user_id)}
    assert body["items"][1]["previous_source"] == "api" and body["next_after"] is None

    first = api.get(PATH.format(id=profile_id) + "?limit=2")
    assert [i["id"] for i in first.json["items"]] == [i["id"] for i in body["items"][:2]]
    rest = api.get(PATH.format(id=profile_id) + f"?limit=2&after={first.json['next_after']}")
    assert [i["id"] for i in rest.json["items"]] == [body["items"][2]["id"]]
    assert rest.json["next_after"] is None


def test_unknown_profiles_and_bad_paging_are_refused(api: Api) -> None:
    spec = api.get("/openapi.json").json
    missing = api.get(PATH.format(id=999_999))
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    _check(spec, 404, missing.json)
    profile = ProfileFactory()
    for query in ("limit=0", "limit=201", "after=0", "colour=red"):
        refused = api.get(PATH.format(id=profile.id) + f"?{query}")
        assert refused.status_code == 422, query
        _check(spec, 422, refused.json)
    empty = api.get(PATH.format(id=profile.id))
    assert empty.json["items"] == [] and empty.json["next_after"] is None

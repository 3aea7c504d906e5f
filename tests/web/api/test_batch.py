"""POST /<type>/batch-upsert: the host CRM's sync path, all or nothing."""

from __future__ import annotations

from sqlalchemy.orm import Session

from crm_segments.models import Opportunity, Profile
from tests.factories import ProfileFactory

from .conftest import Api, count


def test_batch_creates_and_updates(api: Api, session: Session, changed: list[set[int]]) -> None:
    existing = ProfileFactory(external_id="P-1", first_name="Old")
    response = api.post("/profiles/batch-upsert", json={"items": [
        {"external_id": "P-1", "first_name": "New"},
        {"external_id": "P-2", "email": "two@example.com", "sms_consent": True},
    ]})
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["created"], body["updated"]) == (1, 1)
    assert [(i["external_id"], i["created"]) for i in body["items"]] == [("P-1", False), ("P-2", True)]
    session.expire_all()
    assert session.get(Profile, existing.id).first_name == "New"  # type: ignore[union-attr]
    new = session.get(Profile, body["items"][1]["id"])
    assert new is not None and new.sms_consent_source == "api"
    assert changed[-1] == {existing.id, new.id}


def test_one_bad_item_writes_nothing_and_is_named_by_index(api: Api, session: Session) -> None:
    ProfileFactory(external_id="P-1", first_name="Old")
    before = count(session, Profile)
    response = api.post("/profiles/batch-upsert", json={"items": [
        {"external_id": "P-1", "first_name": "Changed"},
        {"external_id": "P-2"},
        {"external_id": "P-3", "email": "nope", "phone": "123"},
        {"external_id": "P-2"},
        "not an object",
    ]})
    assert response.status_code == 422
    fields = [f["field"] for f in response.json["error"]["fields"]]
    assert fields == ["items[2].email", "items[2].phone", "items[3].external_id", "items[4]"]
    assert "also items[1]" in response.json["error"]["fields"][2]["message"]
    assert count(session, Profile) == before
    assert session.query(Profile).filter_by(external_id="P-1").one().first_name == "Old"


def test_batch_of_records_resolves_profiles_in_bulk(api: Api, session: Session, backend: str) -> None:
    profiles = [ProfileFactory() for _ in range(3)]
    items = [{"external_id": f"O-{n}", "profile_external_id": p.external_id, "value": str(n)}
             for n, p in enumerate(profiles)]
    items.append({"external_id": "O-x", "profile_external_id": "missing"})
    refused = api.post("/opportunities/batch-upsert", json={"items": items})
    assert [f["field"] for f in refused.json["error"]["fields"]] == ["items[3].profile_external_id"]
    assert count(session, Opportunity) == 0
    assert api.post("/opportunities/batch-upsert", json={"items": items[:3]}).json["created"] == 3


def test_batch_limits_and_shape(api: Api, backend: str) -> None:
    too_many = api.post("/profiles/batch-upsert", json={"items": [{"external_id": "x"}] * 1001})
    assert too_many.status_code == 422
    assert too_many.json["error"]["fields"][0]["field"] == "items"
    assert api.post("/profiles/batch-upsert", json={"items": {}}).status_code == 422
    assert api.post("/profiles/batch-upsert", json={"items": []}).json["created"] == 0

"""Create, read, update, delete, list and upsert every record type through the API."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from crm_segments.records import KINDS
from tests.factories import CategoryFactory, ProductFactory, ProfileFactory

from .conftest import Api, count

# Per type: a valid new item (its external id comes from the test), a PATCH and a field it changes.
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    "profiles": ({"email": "Ann@Example.com", "phone": "+1 415 555 0123", "country": "us",
                  "time_zone": "Europe/Paris", "interests": ["golf"]}, {"last_name": "Smith"}, "last_name"),
    "quotes": ({"profile_external_id": "P-1", "number": "Q-100",
                "lines": [{"product_sku": "SKU-1", "quantity": "2", "unit_price": "50"}]},
               {"status": "accepted"}, "status"),
    "jobs": ({"profile_external_id": "P-1", "title": "Install",
              "lines": [{"product_sku": "SKU-1", "unit_price": "80.5"}]}, {"status": "completed"}, "status"),
    "opportunities": ({"profile_external_id": "P-1", "name": "Boiler", "value": "1000"},
                      {"stage": "won"}, "stage"),
    "tickets": ({"profile_external_id": "P-1", "subject": "Leak"}, {"status": "solved"}, "status"),
    "products": ({"sku": "SKU-2", "name": "Pump", "category_external_id": "CAT-1", "price": "10.50"},
                 {"price": "12.00"}, "price"),
    "categories": ({"name": "Pumps", "parent_external_id": "CAT-1"}, {"name": "Heat pumps"}, "name"),
}


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    category = CategoryFactory(external_id="CAT-1", name="Heating")
    return {"profile": ProfileFactory(external_id="P-1"),
            "product": ProductFactory(sku="SKU-1", category=category), "category": category}


@pytest.mark.parametrize("name", list(CASES))
def test_crud_and_upsert(api: Api, world: dict[str, Any], session: Session, name: str) -> None:
    new, patch, changed_field = CASES[name]
    model = KINDS[name].model
    before = count(session, model)

    created = api.post(f"/{name}", json={"external_id": "X-1", **new})
    assert created.status_code == 201, created.json
    row = created.json
    assert row["external_id"] == "X-1" and isinstance(row["id"], int)
    assert api.get(f"/{name}/{row['id']}").json == row

    listed = api.get(f"/{name}", query_string={"external_id": "X-1"}).json
    assert [item["id"] for item in listed["items"]] == [row["id"]] and listed["next_after"] is None

    updated = api.patch(f"/{name}/{row['id']}", json=patch)
    assert updated.status_code == 200, updated.json
    assert updated.json[changed_field] == patch[changed_field]
    untouched = {k: v for k, v in row.items() if k not in (changed_field, "updated_at")}
    assert {k: updated.json[k] for k in untouched if k not in ("decided_at", "finished_at", "closed_at")} \
        == {k: v for k, v in untouched.items() if k not in ("decided_at", "finished_at", "closed_at")}

    again = api.put(f"/{name}/by-external-id/X-1", json=patch)
    assert again.status_code == 200 and again.json["id"] == row["id"]
    fresh = {**new, "external_id": "X-2"}
    for unique in ("number", "sku", "name"):
        if unique in fresh and unique in KINDS[name].unique:
            fresh[unique] += "-2"
    body = {k: v for k, v in fresh.items() if k != "external_id"}
    upserted = api.put(f"/{name}/by-external-id/X-2", json=body)
    assert upserted.status_code == 201, upserted.json
    assert count(session, model) == before + 2

    assert api.delete(f"/{name}/{row['id']}").status_code == 204
    missing = api.get(f"/{name}/{row['id']}")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    assert count(session, model) == before + 1


def test_profile_fields_are_normalized(api: Api, backend: str) -> None:
    body = api.post("/profiles", json={"external_id": " P-9 ", **CASES["profiles"][0]}).json
    assert body["external_id"] == "P-9"
    assert body["email"] == "Ann@example.com"
    assert body["phone"] == "+14155550123"
    assert body["country"] == "US"


def test_consent_change_records_time_and_source(api: Api, backend: str) -> None:
    created = api.post("/profiles", json={"external_id": "P-9"}).json
    assert created["email_consent"] is False and created["email_consent_at"] is None

    given = api.patch(f"/profiles/{created['id']}", json={"email_consent": True}).json
    assert given["email_consent"] is True
    assert given["email_consent_source"] == "api" and given["email_consent_at"] is not None
    assert given["sms_consent_at"] is None

    same = api.patch(f"/profiles/{created['id']}", json={"email_consent": True, "city": "Lyon"}).json
    assert same["email_consent_at"] == given["email_consent_at"]


def test_quote_total_follows_its_lines(api: Api, world: dict[str, Any]) -> None:
    quote = api.post("/quotes", json={"external_id": "Q", "profile_id": world["profile"].id,
                                      "number": "Q-1", "status": "sent", **{"lines": [
                                          {"product_id": world["product"].id, "quantity": 3,
                                           "unit_price": "9.99"},
                                          {"description": "Travel", "unit_price": "20"}]}}).json
    assert quote["total"] == "49.97"
    assert [line["amount"] for line in quote["lines"]] == ["29.97", "20.00"]
    assert quote["sent_at"] is not None  # stamped when the status became "sent"

    replaced = api.patch(f"/quotes/{quote['id']}", json={"lines": [{"unit_price": "5"}]}).json
    assert replaced["total"] == "5.00" and len(replaced["lines"]) == 1

    kept = api.patch(f"/quotes/{quote['id']}", json={"total": "7.00"}).json
    assert kept["total"] == "7.00" and len(kept["lines"]) == 1


def test_writes_signal_the_profiles_they_touch(api: Api, world: dict[str, Any], session: Session,
                                               changed: list[set[int]]) -> None:
    profile_id = world["profile"].id
    other = ProfileFactory()
    ticket = api.post("/tickets", json={"external_id": "T", "profile_id": profile_id}).json
    assert changed[-1] == {profile_id}
    api.patch(f"/tickets/{ticket['id']}", json={"profile_external_id": other.external_id})
    assert changed[-1] == {profile_id, other.id}  # moved: both profiles change
    api.delete(f"/tickets/{ticket['id']}")
    assert changed[-1] == {other.id}
    calls = len(changed)
    api.post("/categories", json={"external_id": "C", "name": "Other"})
    assert len(changed) == calls  # catalog rows belong to no profile


def test_deleting_a_profile_deletes_its_records(api: Api, world: dict[str, Any], session: Session) -> None:
    profile_id = world["profile"].id
    for name in ("quotes", "jobs", "opportunities", "tickets"):
        assert api.post(f"/{name}", json={"external_id": f"{name}-1", **CASES[name][0]}).status_code == 201
    assert api.delete(f"/profiles/{profile_id}").status_code == 204
    for name in ("quotes", "jobs", "opportunities", "tickets"):
        assert count(session, KINDS[name].model) == 0, name


def test_pagination_walks_every_row_once(api: Api, session: Session, backend: str) -> None:
    ids = {ProfileFactory(region="North").id for _ in range(5)}
    ProfileFactory(region="South")
    seen: list[int] = []
    after = None
    pages = 0
    while True:
        params = {"region": "North", "limit": 2, **({"after": after} if after else {})}
        page = api.get("/profiles", query_string=params).json
        seen += [item["id"] for item in page["items"]]
        pages += 1
        after = page["next_after"]
        if after is None:
            break
    assert seen == sorted(ids) and pages == 3


def test_updated_since_filter(api: Api, session: Session, backend: str) -> None:
    old = ProfileFactory()
    old.updated_at = old.updated_at.replace(year=2020)
    session.flush()
    recent = ProfileFactory()
    items = api.get("/profiles", query_string={"updated_since": "2024-01-01T00:00:00+00:00"}).json["items"]
    assert [item["id"] for item in items] == [recent.id]
    naive = api.get("/profiles", query_string={"updated_since": "2024-01-01T00:00:00"})
    assert naive.status_code == 422
    assert naive.json["error"]["fields"][0]["field"] == "updated_since"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"after": "x"}, "after"),
     ({"colour": "red"}, "colour"), ({"lifecycle_status": "zombie"}, "lifecycle_status")],
)
def test_bad_list_parameters_name_the_parameter(api: Api, params: dict[str, Any], field: str,
                                                backend: str) -> None:
    response = api.get("/profiles", query_string=params)
    assert response.status_code == 422
    assert [f["field"] for f in response.json["error"]["fields"]] == [field]

"""Bad input gets an error naming the field, and nothing is half-written."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from crm_segments.models import Profile, Quote, QuoteLine
from tests.factories import ProfileFactory, QuoteFactory

from .conftest import Api, count


def _fields(response: Any) -> list[str]:
    return [f["field"] for f in response.json["error"]["fields"]]


@pytest.fixture
def profile(session: Session) -> Profile:
    return ProfileFactory(external_id="P-1")


def test_duplicate_external_id_is_a_conflict(api: Api, profile: Profile, session: Session) -> None:
    before = count(session, Profile)
    response = api.post("/profiles", json={"external_id": "P-1", "email": "new@example.com"})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "conflict"
    assert _fields(response) == ["external_id"]
    assert count(session, Profile) == before


def test_duplicate_quote_number_is_a_conflict(api: Api, profile: Profile, session: Session) -> None:
    QuoteFactory(number="Q-1", profile=profile)
    before = (count(session, Quote), count(session, QuoteLine))
    response = api.post("/quotes", json={"external_id": "new", "profile_id": profile.id, "number": "Q-1",
                                         "lines": [{"unit_price": "1"}]})
    assert response.status_code == 409 and _fields(response) == ["number"]
    assert (count(session, Quote), count(session, QuoteLine)) == before


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"email": "not-an-email"}, "email", "email"),
        ({"phone": "0612345678"}, "phone", "E.164"),
        ({"phone": "+0123"}, "phone", "E.164"),
        ({"annual_revenue": "-1"}, "annual_revenue", "greater than or equal to 0"),
        ({"lifecycle_status": "zombie"}, "lifecycle_status", "must be one of"),
        ({"country": "USA"}, "country", "ISO 3166-1"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "IANA"),
        ({"birth_date": "1990-02-30"}, "birth_date", "date"),
        ({"lifecycle_status": None}, "lifecycle_status", "must not be empty"),
        ({"favourite_colour": "red"}, "favourite_colour", "unknown field"),
    ],
)
def test_invalid_profile_fields_are_named(api: Api, session: Session, body: dict[str, Any], field: str,
                                          words: str, backend: str) -> None:
    before = count(session, Profile)
    response = api.post("/profiles", json={"external_id": "P-new", **body})
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_failed"
    assert [f["field"] for f in error["fields"]] == [field]
    assert words in error["fields"][0]["message"]
    assert count(session, Profile) == before


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("quotes", {"number": "Q-9", "total": "-5"}, "total"),
        ("quotes", {"number": "Q-9", "status": "maybe"}, "status"),
        ("quotes", {"number": "Q-9", "sent_at": "2026-01-01T10:00:00"}, "sent_at"),
        ("quotes", {"number": "Q-9", "lines": [{"unit_price": "1"}, {"unit_price": "-1"}]},
         "lines[1].unit_price"),
        ("quotes", {"number": "Q-9", "lines": [{"quantity": "0"}]}, "lines[0].quantity"),
        ("quotes", {"number": "Q-9", "lines": [{"product_sku": "NOPE"}]}, "lines[0].product_sku"),
        ("jobs", {"amount": "-0.01"}, "amount"),
        ("jobs", {"status": "done"}, "status"),
        ("jobs", {"quote_external_id": "NOPE"}, "quote_external_id"),
        ("opportunities", {"value": "-100"}, "value"),
        ("opportunities", {"stage": "closed"}, "stage"),
        ("tickets", {"priority": "asap"}, "priority"),
        ("tickets", {"profile_external_id": "NOPE", "profile_id": None}, "profile_external_id"),
    ],
)
def test_invalid_record_fields_are_named(api: Api, profile: Profile, session: Session, name: str,
                                         body: dict[str, Any], field: str) -> None:
    before = (count(session, Quote), count(session, QuoteLine))
    response = api.post(f"/{name}", json={"external_id": "R-1", "profile_external_id": "P-1", **body})
    assert response.status_code == 422, response.json
    assert _fields(response) == [field]
    assert (count(session, Quote), count(session, QuoteLine)) == before


def test_record_without_profile_names_both_ways_to_give_it(api: Api, backend: str) -> None:
    response = api.post("/tickets", json={"external_id": "T-1"})
    assert response.status_code == 422
    assert _fields(response) == ["profile_id"]
    assert "profile_external_id" in response.json["error"]["fields"][0]["message"]


def test_every_error_is_reported_at_once(api: Api, backend: str) -> None:
    response = api.post("/profiles", json={"external_id": "", "email": "x", "phone": "1"})
    assert sorted(_fields(response)) == ["email", "external_id", "phone"]


def test_patch_refuses_bad_values_and_changes_nothing(api: Api, profile: Profile, session: Session) -> None:
    response = api.patch(f"/profiles/{profile.id}", json={"first_name": "Zed", "email": "broken"})
    assert response.status_code == 422 and _fields(response) == ["email"]
    session.expire_all()
    assert session.get(Profile, profile.id).first_name != "Zed"  # type: ignore[union-attr]


def test_upsert_body_must_match_the_url(api: Api, backend: str) -> None:
    response = api.put("/profiles/by-external-id/A", json={"external_id": "B"})
    assert response.status_code == 422 and _fields(response) == ["external_id"]


@pytest.mark.parametrize("data", [b"{not json", b"", b"\xff\xfe"])
def test_malformed_json_names_the_body(api: Api, data: bytes, backend: str) -> None:
    response = api.post("/profiles", data=data, content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "malformed_json"
    assert _fields(response) == ["body"]


def test_body_must_be_an_object(api: Api, backend: str) -> None:
    response = api.post("/profiles", json=[1, 2])
    assert response.status_code == 422 and _fields(response) == ["body"]


def test_unknown_id_is_404_json(api: Api, backend: str) -> None:
    for method in ("get", "patch", "delete"):
        response = getattr(api, method)("/quotes/999999", json={})
        assert response.status_code == 404, method
        assert response.json["error"]["code"] == "not_found"


def test_errors_leave_the_session_usable(api: Api, client: FlaskClient, backend: str) -> None:
    assert api.post("/profiles", json={"external_id": "A", "email": "bad"}).status_code == 422
    assert api.post("/profiles", json={"external_id": "A"}).status_code == 201


def test_http_errors_inside_the_api_are_json(api: Api, app: Flask, backend: str) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 100
    response = api.post("/profiles/batch-upsert", json={"items": [{"external_id": "x" * 50}] * 5})
    assert response.status_code == 413
    assert response.json["error"]["code"] == "request_entity_too_large"

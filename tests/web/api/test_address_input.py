"""Profile addresses through the API: an internationalised domain is stored in IDNA form; a local part
the email provider cannot take is refused naming the field, and nothing is written."""

from __future__ import annotations

from sqlalchemy.orm import Session

from crm_segments.models import Profile

from .conftest import Api, count


def test_an_idn_domain_is_stored_as_punycode(api: Api, session: Session, backend: str) -> None:
    created = api.post("/profiles", json={"external_id": "P-1", "email": "anna@bücher.example"})
    assert created.status_code == 201, created.json
    assert created.json["email"] == "anna@xn--bcher-kva.example"
    changed = api.patch(f"/profiles/{created.json['id']}", json={"email": "anna@Straße.example"})
    assert changed.status_code == 200 and changed.json["email"] == "anna@xn--strae-oqa.example"
    session.expire_all()
    assert session.get(Profile, created.json["id"]).email == "anna@xn--strae-oqa.example"  # type: ignore[union-attr]


def test_a_non_ascii_local_part_is_refused_naming_the_field(api: Api, session: Session, backend: str) -> None:
    before = count(session, Profile)
    refused = api.post("/profiles", json={"external_id": "P-1", "email": "josé@example.com"})
    assert refused.status_code == 422
    [error] = refused.json["error"]["fields"]
    assert error["field"] == "email" and "'é'" in error["message"] and "ASCII" in error["message"]
    batch = api.post("/profiles/batch-upsert", json={"items": [
        {"external_id": "P-2", "email": "ok@bücher.example"},
        {"external_id": "P-3", "email": "zoë@example.com"}]})
    assert batch.status_code == 422
    assert [f["field"] for f in batch.json["error"]["fields"]] == ["items[1].email"]
    assert count(session, Profile) == before

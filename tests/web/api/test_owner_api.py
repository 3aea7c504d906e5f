"""A profile's owner through the API: set by the user's email, returned, and a list filter."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tests.factories import ProfileFactory, UserFactory

from .conftest import Api


def test_owner_by_api_is_returned_and_filtered_on(api: Api, session: Session) -> None:
    sam = UserFactory(email="sam@example.com", role="sales")
    created = api.post("/profiles", json={"external_id": "P-1", "owner_email": "sam@example.com"})
    assert created.status_code == 201 and created.get_json()["owner_id"] == sam.id
    ProfileFactory(external_id="P-2")
    listed = api.get(f"/profiles?owner_id={sam.id}").get_json()["items"]
    assert [p["external_id"] for p in listed] == ["P-1"]

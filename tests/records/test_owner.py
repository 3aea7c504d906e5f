"""A profile's owner: set by id or by the user's email, through the record services and CSV."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import Profile
from crm_segments.records import KINDS
from crm_segments.records.importer import import_csv
from tests.factories import ProfileFactory, UserFactory
from tests.records import writes

PROFILES = KINDS["profiles"]


def test_owner_by_id_or_email_and_unknown_owners_are_named(session: Session, backend: str) -> None:
    sam = UserFactory(email="sam@example.com", role="sales")
    by_email = writes.create(PROFILES, session=session,
                           data={"external_id": "P-1", "owner_email": "SAM@Example.com"})
    by_id = writes.create(PROFILES, session=session, data={"external_id": "P-2", "owner_id": sam.id})
    assert by_email.owner_id == by_id.owner_id == sam.id
    with pytest.raises(ValidationFailed) as unknown:
        writes.create(PROFILES, session=session,
                    data={"external_id": "P-3", "owner_email": "nobody@example.com"})
    assert [e.field for e in unknown.value.errors] == ["owner_email"]
    cleared = writes.update(PROFILES, session=session, id=by_id.id, data={"owner_id": None})
    assert cleared.owner_id is None


def test_owner_by_csv(session: Session, backend: str) -> None:
    sam = UserFactory(email="sam@example.com", role="sales")
    ProfileFactory(external_id="P-1")
    report = import_csv(session=session, kind="profiles", stream=io.BytesIO(
        b"external_id,owner_email\r\nP-1,sam@example.com\r\nP-2,sam@example.com\r\n"))
    assert (report.created, report.updated) == (1, 1)
    owners = {key: owner for key, owner in session.execute(select(Profile.external_id, Profile.owner_id))}
    assert owners == {"P-1": sam.id, "P-2": sam.id}

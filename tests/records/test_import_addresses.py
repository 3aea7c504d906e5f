"""Addresses in a CSV import: an internationalised domain is stored in IDNA form; a local part the
email provider cannot take is refused naming the row and the column, and nothing is written."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import Profile
from crm_segments.records.importer import import_csv
from tests.factories import ProfileFactory


def _import(session: Session, text: str) -> None:
    import_csv(session=session, kind="profiles", stream=io.BytesIO(text.encode()))


def test_idn_domains_are_stored_as_punycode(session: Session, backend: str) -> None:
    ProfileFactory(external_id="P-2", email="old@example.com")
    _import(session, "external_id,email\nP-1,anna@bücher.example\nP-2,Ops@Straße.example\n"
                     "P-3,ann@example.com\n")
    rows = session.execute(select(Profile.external_id, Profile.email))
    stored = {row.external_id: row.email for row in rows}
    assert stored == {"P-1": "anna@xn--bcher-kva.example", "P-2": "Ops@xn--strae-oqa.example",
                      "P-3": "ann@example.com"}


def test_a_non_ascii_local_part_is_refused_naming_row_and_column(session: Session, backend: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _import(session, "external_id,email\nP-1,ann@example.com\nP-2,josé@example.com\n"
                         "P-3,zoë@bücher.example\n")
    assert [(e.row, e.field) for e in refused.value.errors] == [(3, "email"), (4, "email")]
    assert "'é'" in refused.value.errors[0].message and "ASCII" in refused.value.errors[0].message
    assert session.scalars(select(Profile)).first() is None

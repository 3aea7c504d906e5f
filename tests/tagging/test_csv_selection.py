from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import BulkOperation, ProfileTag
from crm_segments.selection.from_csv import csv_selection
from crm_segments.tagging.bulk import bulk_tag
from tests.factories import ProfileFactory, TagFactory

from .helpers import tagged_ids


def test_a_csv_of_emails_tags_the_profiles_it_names(session: Session) -> None:
    ada = ProfileFactory(email="ada@example.com")
    bob = ProfileFactory(email="bob@example.com")
    ProfileFactory(email="eve@example.com")
    content = "name,Email\nAda,ada@example.com\n\nBob, bob@example.com \nAda again,ada@example.com\n"
    chosen = csv_selection(session=session, content=content.encode(), filename="list.csv")
    tag = TagFactory()
    result = bulk_tag(session=session, action="add", selection=chosen, tags=[tag])
    assert result.selected == 2 and result.changed == 2
    assert tagged_ids(session, tag) == {ada.id, bob.id}
    assert result.operation.selection_kind == "csv"
    assert result.operation.selection_description == "CSV list.csv: 3 rows by email"
    untag = bulk_tag(session=session, action="remove", selection=chosen, tags=[tag])
    assert untag.changed == 2 and tagged_ids(session, tag) == set()


def test_a_csv_of_external_ids_with_a_byte_order_mark(session: Session) -> None:
    profile = ProfileFactory(external_id="CRM-1")
    chosen = csv_selection(session=session, content="\ufeffexternal_id\r\nCRM-1\r\n".encode())
    tag = TagFactory()
    bulk_tag(session=session, action="add", selection=chosen, tags=[tag])
    assert tagged_ids(session, tag) == {profile.id}


def test_unmatched_and_malformed_lines_are_reported_by_line_and_nothing_is_applied(session: Session) -> None:
    ProfileFactory(email="ada@example.com")
    content = "email,name\nada@example.com,Ada\nnot-an-email,X\n\nnobody@example.com,N\n,Bob\n"
    with pytest.raises(ValidationFailed) as malformed:
        csv_selection(session=session, content=content)
    assert [(e.row, e.field) for e in malformed.value.errors] == [(3, "email"), (5, "email"), (6, "email")]
    assert "not a valid email" in malformed.value.errors[0].message
    assert "no profile has email 'nobody@example.com'" in malformed.value.errors[1].message
    assert malformed.value.errors[2].message == "is empty"
    with pytest.raises(ValidationFailed) as unmatched:
        csv_selection(session=session, content="email\nada@example.com\nnobody@example.com\n")
    [error] = unmatched.value.errors
    assert (error.row, error.field) == (3, "email")
    assert "no profile has email 'nobody@example.com'" in str(error)
    assert session.scalar(select(func.count()).select_from(BulkOperation)) == 0
    assert session.scalar(select(func.count()).select_from(ProfileTag)) == 0


def test_many_unmatched_lines_are_capped_with_a_total(session: Session) -> None:
    content = "external_id\n" + "".join(f"NOPE-{i}\n" for i in range(150))
    with pytest.raises(ValidationFailed) as caught:
        csv_selection(session=session, content=content)
    assert len(caught.value.errors) == 101
    assert caught.value.errors[0].row == 2
    assert caught.value.errors[-1].message.startswith("and 50 more lines with problems")


@pytest.mark.parametrize(("content", "field", "message"), [
    (b"name\nAda\n", "header", "neither found"),
    (b"email,external_id\na@b.co,X\n", "header", "both found"),
    (b"email\n", "file", "has no rows"),
    (b"\xff\xfe", "file", "not UTF-8"),
])
def test_files_refused_as_a_whole(session: Session, content: bytes, field: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        csv_selection(session=session, content=content)
    assert caught.value.errors[0].field == field and message in caught.value.errors[0].message

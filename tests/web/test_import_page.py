"""The CSV upload page: admins only, every bad row in a table, nothing written on error."""

from __future__ import annotations

import io

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.models import Profile
from tests.tasks import follow_task

from .conftest import csrf_token_from


def _upload(client: FlaskClient, content: bytes, kind: str = "profiles", token: str | None = None) -> object:
    token = token if token is not None else csrf_token_from(client.get("/import"))
    return client.post("/import", data={"kind": kind, "csrf_token": token,
                                        "file": (io.BytesIO(content), "people.csv")},
                       content_type="multipart/form-data")


def _profiles(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Profile)) or 0)


def test_only_admins_may_import(client: FlaskClient, sales_client: FlaskClient, backend: str) -> None:
    refused = sales_client.get("/import")
    assert refused.status_code == 403
    assert 'href="/import"' not in refused.get_data(as_text=True)  # not in a sales user's navigation


def test_admin_sees_the_form_and_the_columns(admin_client: FlaskClient, backend: str) -> None:
    page = admin_client.get("/import")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in html and "quote_external_id" in html
    assert 'href="/import" class="active"' in html  # in an admin's navigation


def test_bad_rows_are_listed_and_nothing_is_written(admin_client: FlaskClient, session: Session) -> None:
    before = _profiles(session)
    response = _upload(admin_client, b"external_id,email,phone\nP-1,ok@example.com,\nP-2,nope,\nP-3,,42\n")
    html = follow_task(admin_client, response)  # type: ignore[arg-type]
    assert 'data-task-status="failed"' in html
    assert "2 problems in people.csv" in html
    assert '<td class="num">3</td><td><code>email</code></td>' in html
    assert '<td class="num">4</td><td><code>phone</code></td>' in html
    assert _profiles(session) == before


def test_a_good_file_is_imported_and_reported(admin_client: FlaskClient, session: Session) -> None:
    response = _upload(admin_client, b"\xef\xbb\xbfexternal_id,first_name\nP-1,Ann\nP-2,Bob\n")
    page = follow_task(admin_client, response)  # type: ignore[arg-type]
    assert "profiles: 2 rows, 2 created, 0 updated" in page
    assert _profiles(session) == 2
    assert session.scalars(select(Profile.email_consent_source)).all() == [None, None]


def test_missing_file_and_missing_csrf_are_refused(admin_client: FlaskClient, session: Session) -> None:
    token = csrf_token_from(admin_client.get("/import"))
    empty = admin_client.post("/import", data={"kind": "profiles", "csrf_token": token})
    assert empty.status_code == 400 and "Choose a CSV file" in empty.get_data(as_text=True)
    forged = _upload(admin_client, b"external_id\nP-1\n", token="forged")
    assert forged.status_code == 400  # type: ignore[attr-defined]
    assert _profiles(session) == 0

"""The CSV upload page names a row whose address the email provider cannot take."""

from __future__ import annotations

import io

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.models import Profile
from tests.tasks import follow_task

from .conftest import csrf_token_from


def test_a_non_ascii_local_part_is_listed_with_its_row(admin_client: FlaskClient, session: Session) -> None:
    token = csrf_token_from(admin_client.get("/import"))
    content = "external_id,email\nP-1,anna@bücher.example\nP-2,josé@example.com\n".encode()
    response = admin_client.post("/import", data={"kind": "profiles", "csrf_token": token,
                                                  "file": (io.BytesIO(content), "people.csv")},
                                 content_type="multipart/form-data")
    html = follow_task(admin_client, response)
    assert 'data-task-status="failed"' in html and "1 problem in people.csv" in html
    assert '<td class="num">3</td><td><code>email</code></td>' in html and "ASCII" in html
    assert session.scalars(select(Profile)).first() is None

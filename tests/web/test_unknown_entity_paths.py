"""The tag editor's paths name an entity type: only a registered taggable type matches, any other name
is a 404 for forms and scripts alike, and nothing is written."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.models import ProfileTag, Tag
from tests.factories import ProfileFactory

from .conftest import csrf_token_from

pytestmark = pytest.mark.usefixtures("backend")


@pytest.mark.parametrize("entity_type", ["nope", "profiles", "Profile", "user"])
def test_an_unknown_entity_type_is_a_404(sales_client: FlaskClient, session: Session,
                                         entity_type: str) -> None:
    profile = ProfileFactory()
    session.commit()
    token = csrf_token_from(sales_client.get(f"/profiles/{profile.id}"))
    entity = f"/tags/entity/{entity_type}/{profile.id}"
    paths = [f"{entity}/add", f"{entity}/remove", f"{entity}/suppressions/1/clear"]
    for path in paths:
        as_form = sales_client.post(path, data={"csrf_token": token, "name": "x", "tag_id": "1"})
        as_json = sales_client.post(path, json={"name": "x"}, headers={"X-CSRFToken": token,
                                                                        "Accept": "application/json"})
        assert (as_form.status_code, as_json.status_code) == (404, 404), path
    known = sales_client.post(f"/tags/entity/profile/{profile.id}/add", json={"name": "x"},
                              headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert known.status_code == 201
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(ProfileTag)) == 1
    assert session.scalar(select(func.count()).select_from(Tag)) == 1

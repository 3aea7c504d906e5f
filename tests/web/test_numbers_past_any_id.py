"""Ids and cursors in query strings and forms that no row can have (past 32 bits, past 64 bits, zero,
another script's digits): every page answers without a 500 and changes nothing. On SQLite a number
past 64 bits used to reach the driver, which cannot bind it (OverflowError, a 500)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.kernel.record_ids import MAX_ID, parse_id
from crm_segments.models import Profile, ProfileTag, Tag
from tests.factories import ProfileFactory, TagFactory
from tests.workflows.helpers import definition, make_segment

from .conftest import csrf_token_from

pytestmark = pytest.mark.usefixtures("backend")
PAST_64_BITS = "9" * 23
NOT_IDS = [PAST_64_BITS, str(MAX_ID + 1), "0", "²", "-3", "1e3", " 12x"]


@pytest.mark.parametrize("text", NOT_IDS)
def test_only_ascii_whole_numbers_from_1_to_the_largest_key_are_ids(text: str) -> None:
    assert parse_id(text) is None
    assert parse_id(" 42 ") == 42 and parse_id(str(MAX_ID)) == MAX_ID and parse_id(None) is None


@pytest.mark.parametrize("bad", [PAST_64_BITS, str(MAX_ID + 1), "²"])
def test_list_pages_with_cursors_and_filters_past_any_id(admin_client: FlaskClient, session: Session,
                                                         bad: str) -> None:
    from crm_segments.workflows.editing import create_workflow

    segment = make_segment(session)
    workflow = create_workflow(session=session, data=definition(segment))
    session.commit()
    pages = [f"/segments/{segment.id}?after={bad}&before={bad}", f"/segments/overlap?a={bad}&b={bad}",
             f"/messages?after={bad}", f"/workflows/{workflow.id}/enrollments?after={bad}",
             f"/tags/bulk-operations?before={bad}"]
    for page in pages:
        assert admin_client.get(page).status_code == 200, page
    filtered = admin_client.get(f"/messages?workflow={bad}&segment={bad}&profile={bad}")
    assert filtered.status_code < 500 and f"must be an id (a whole number from 1 to {MAX_ID})" in \
        filtered.get_data(as_text=True)


def test_forms_naming_ids_past_any_id_change_nothing(admin_client: FlaskClient, session: Session) -> None:
    profile = ProfileFactory()
    tag = TagFactory(name="Gold", name_key="gold")
    session.add(ProfileTag(entity_id=profile.id, tag_id=tag.id, source="manual"))
    session.commit()
    token = csrf_token_from(admin_client.get("/profiles"))
    posts = [
        (f"/tags/entity/profile/{profile.id}/remove", {"tag_id": PAST_64_BITS}),
        ("/tags/bulk", {"action": "remove", "scope": "segment", "segment_id": PAST_64_BITS, "tags": "Gold"}),
        ("/tags/bulk", {"action": "remove", "scope": "selected", "entity_type": "profile",
                        "ids": f"{profile.id},{PAST_64_BITS}", "tags": "Gold"}),
        (f"/tags/{tag.id}/merge", {"target_id": PAST_64_BITS}),
        ("/profiles/owner", {"profile_id": [str(profile.id), PAST_64_BITS], "owner_id": PAST_64_BITS}),
        ("/profiles/owner/bulk", {"scope": "selected", "ids": str(profile.id), "owner_id": PAST_64_BITS}),
        ("/messages/unconfirmed/close", {"workflow": PAST_64_BITS}),
        ("/templates/marketing/win_back", {"record_id": PAST_64_BITS, "profile": PAST_64_BITS,
                                           "action": "preview"}),
    ]
    for path, data in posts:
        response = admin_client.post(path, data={"csrf_token": token, **data})
        assert response.status_code < 500, (path, response.status_code)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(ProfileTag)) == 1
    assert session.scalar(select(func.count()).select_from(Tag)) == 1
    assert session.get(Profile, profile.id).owner_id is None  # type: ignore[union-attr]


def test_a_number_too_large_for_the_store_that_still_reaches_it_is_a_400_and_writes_nothing(
        app: Flask, session: Session) -> None:
    from crm_segments.web.db import db_session

    @app.route("/unbounded-number")
    def unbounded_number() -> str:  # a page that forgot to bound what it reads
        db_session().add(Profile(external_id="written-before"))
        db_session().flush()
        db_session().get(Profile, int(PAST_64_BITS))
        return "read"

    response = app.test_client().get("/unbounded-number")
    # SQLite cannot bind it (OverflowError); PostgreSQL refuses it for an integer key (SQLSTATE 22003).
    assert response.status_code == 400 and "nothing was changed" in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Profile)) == 0


@pytest.mark.parametrize("segment_id", [10**23, 2**31, 0, True, "x"])
def test_the_segment_preview_names_a_segment_id_no_row_can_have(admin_client: FlaskClient,
                                                                segment_id: object) -> None:
    token = csrf_token_from(admin_client.get("/segments/new"))
    rule = {"field": "region", "op": "eq", "value": "Norte"}
    headers = {"X-CSRFToken": token}
    refused = admin_client.post("/segments/preview", json={"rule": rule, "segment_id": segment_id},
                                headers=headers)
    assert refused.status_code == 422 and refused.json["error"]["field"] == "segment_id"
    new = admin_client.post("/segments/preview", json={"rule": rule, "segment_id": None}, headers=headers)
    assert new.status_code == 200 and new.json["count"] == 0

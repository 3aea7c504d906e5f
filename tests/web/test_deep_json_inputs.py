"""JSON nested too deep for the parser, sent to every page that reads JSON from a person: a 4xx naming
the problem, nothing written; never the parser's RecursionError as a 500."""

from __future__ import annotations

import io

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.kernel.json_text import MAX_NESTING
from crm_segments.models import AutoTagRule, Profile, ProfileTag, Segment, Workflow
from crm_segments.records.importer import import_csv
from tests.factories import ProfileFactory
from tests.workflows.helpers import EMAIL_TEMPLATE, make_segment

from .conftest import csrf_token_from
from .test_workflow_pages import _form

pytestmark = pytest.mark.usefixtures("backend")
DEEP = '{"not": ' * 5000 + '{"field": "region", "op": "eq", "value": "Norte"}' + "}" * 5000
TOO_DEEP = f"nests deeper than {MAX_NESTING} levels"


def _count(session: Session, model: type[object]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_the_segment_editor_and_its_preview(admin_client: FlaskClient, session: Session) -> None:
    token = csrf_token_from(admin_client.get("/segments/new"))
    saved = admin_client.post("/segments/new", data={"csrf_token": token, "name": "Deep", "kind": "live",
                                                     "rule": DEEP})
    assert saved.status_code == 422 and TOO_DEEP in saved.get_data(as_text=True)
    preview = admin_client.post("/segments/preview", data='{"rule": ' + DEEP + "}",
                                content_type="application/json", headers={"X-CSRFToken": token})
    assert preview.status_code == 400 and preview.json["error"]["message"] == "send a JSON object"
    assert _count(session, Segment) == 0


def test_the_auto_tag_rule_editor(admin_client: FlaskClient, session: Session) -> None:
    token = csrf_token_from(admin_client.get("/tags/rules/new"))
    response = admin_client.post("/tags/rules/new", data={
        "csrf_token": token, "name": "Deep", "entity_type": "profile", "tag": "Deep", "mode": "live",
        "enabled": "y", "condition": DEEP})
    assert response.status_code == 422 and TOO_DEEP in response.get_data(as_text=True)
    assert _count(session, AutoTagRule) == 0


def test_the_workflow_editors_goal(admin_client: FlaskClient, session: Session) -> None:
    make_segment(session, name="Quoted")
    form = _form(admin_client.get("/workflows/new").get_data(as_text=True))
    form.update({"name": "Deep goal", "trigger_type": "segment_entered", "trigger_segment": "Quoted",
                 "steps-0-template": EMAIL_TEMPLATE, "action": "save", "goal_rule": DEEP,
                 "goal_since": "[" * 5000 + "]" * 5000})
    response = admin_client.post("/workflows/new", data=form)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and TOO_DEEP in page and "an unreadable goal condition" in page
    assert _count(session, Workflow) == 0


def test_a_profiles_custom_attributes(sales_client: FlaskClient, session: Session) -> None:
    token = csrf_token_from(sales_client.get("/profiles/new"))
    response = sales_client.post("/profiles/new", data={
        "csrf_token": token, "external_id": "P-DEEP", "lifecycle_status": "lead",
        "custom_attributes": '{"a": ' + "[" * 5000 + "]" * 5000 + "}"})
    assert response.status_code == 400 and TOO_DEEP in response.get_data(as_text=True)
    assert _count(session, Profile) == 0


def test_the_tag_editors_json_body(sales_client: FlaskClient, session: Session) -> None:
    profile = ProfileFactory()
    token = csrf_token_from(sales_client.get(f"/profiles/{profile.id}"))
    response = sales_client.post(f"/tags/entity/profile/{profile.id}/add", data='{"name": ' + DEEP + "}",
                                 content_type="application/json",
                                 headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert 400 <= response.status_code < 500
    assert _count(session, ProfileTag) == 0


def test_a_csv_cell(session: Session) -> None:
    cell = '"{""a"": ' + "[" * 5000 + "]" * 5000 + '}"'
    data = f"external_id,custom_attributes\nP-1,{cell}\n".encode()
    with pytest.raises(ValidationFailed) as failed:
        import_csv(session=session, kind="profiles", stream=io.BytesIO(data))
    (error,) = failed.value.errors
    assert (error.field, error.row) == ("custom_attributes", 2) and TOO_DEEP in error.message
    assert _count(session, Profile) == 0

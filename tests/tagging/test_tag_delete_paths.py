"""Every way to delete a tag (the page, the API) lists its users and lets the admin refuse or detach;
none deletes silently."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from crm_segments.accounts import users
from crm_segments.models import Segment, Tag, User, Workflow
from tests.factories import TagFactory, UserFactory
from tests.web.api.conftest import Api
from tests.workflows.helpers import active_workflow, definition

from .conftest import page_token

pytestmark = pytest.mark.usefixtures("backend")
STEPS = [{"key": "thank", "type": "add_tag", "tag": "thanked"}]


@pytest.fixture
def admin_api(client: FlaskClient, session: Session) -> Api:
    user = UserFactory(role="admin", name="Key Owner")
    return Api(client, users.create_api_key(session=session, email=user.email, name="admin")[1])


def _workflow_on(session: Session, tag_name: str) -> Workflow:
    return active_workflow(session, definition(name="Welcome VIPs", steps=STEPS,
                                               trigger={"type": "tag_added", "tag": tag_name}))


def _segment_using(session: Session, tag_name: str) -> Segment:
    segment = Segment(name="VIP list", kind="live", rule={"tags": [tag_name]})
    session.add(segment)
    session.flush()
    return segment


def test_api_answers_409_with_the_users_unless_asked_to_detach(admin_api: Api, session: Session) -> None:
    tag = TagFactory(name="VIP")
    tag_id = tag.id
    workflow = _workflow_on(session, "VIP")

    refused = admin_api.delete(f"/tags/{tag.id}")

    assert refused.status_code == 409
    error = refused.json["error"]
    assert error["code"] == "in_use" and "on_use=detach" in error["message"]
    assert error["used_by"] == [{"kind": "workflow", "id": workflow.id, "name": "Welcome VIPs",
                                 "where": "trigger", "status": "active", "is_condition": False}]
    session.expire_all()
    assert session.get(Tag, tag_id) is not None and session.get(Workflow, workflow.id).status == "active"

    detached = admin_api.delete(f"/tags/{tag.id}?on_use=detach")

    assert detached.status_code == 200 and detached.json["paused_workflow_ids"] == [workflow.id]
    session.expire_all()
    paused = session.get(Workflow, workflow.id)
    assert session.get(Tag, tag_id) is None and paused.status == "paused"
    reason = r"tag 'VIP' was deleted at \d{4}-\d\d-\d\d \d\d:\d\d UTC by Key Owner"
    assert re.fullmatch(reason, paused.paused_reason)


def test_api_refuses_detaching_a_rule_condition_and_a_bad_choice(admin_api: Api, session: Session) -> None:
    tag = TagFactory(name="VIP")
    tag_id = tag.id
    segment = _segment_using(session, "vip")

    refused = admin_api.delete(f"/tags/{tag.id}?on_use=detach")
    bad = admin_api.delete(f"/tags/{tag.id}?on_use=later")

    assert refused.status_code == 409
    assert refused.json["error"]["used_by"] == [{
        "kind": "segment", "id": segment.id, "name": "VIP list", "where": "rule.tags", "status": "live",
        "is_condition": True}]
    assert bad.status_code == 422 and bad.json["error"]["fields"][0]["field"] == "on_use"
    session.expire_all()
    assert session.get(Tag, tag_id) is not None


def test_openapi_documents_the_choice_and_the_409(admin_api: Api) -> None:
    spec = admin_api.get("/openapi.json").json
    operation = spec["paths"]["/tags/{id}"]["delete"]
    [on_use] = [p for p in operation["parameters"] if p["name"] == "on_use"]
    assert on_use["in"] == "query" and on_use["schema"]["enum"] == ["refuse", "detach"]
    assert "409" in operation["responses"]
    detail = spec["components"]["schemas"]["ErrorDetail"]
    assert "used_by" in detail["properties"]


def test_delete_page_lists_the_users_then_detaches(admin_client: FlaskClient, admin_user: User,
                                                   session: Session) -> None:
    tag = TagFactory(name="VIP")
    tag_id = tag.id
    workflow = _workflow_on(session, "VIP")

    page = admin_client.get(f"/tags/{tag.id}/delete").get_data(as_text=True)

    assert f'href="/workflows/{workflow.id}">Welcome VIPs</a>' in page
    assert 'id="delete-detach"' in page and 'name="on_use" value="detach"' in page
    token = page_token(admin_client, f"/tags/{tag.id}/delete")
    refused = admin_client.post(f"/tags/{tag.id}/delete", data={"csrf_token": token, "on_use": "refuse"})
    assert refused.status_code == 409 and "Nothing was deleted" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(Tag, tag_id) is not None

    done = admin_client.post(f"/tags/{tag.id}/delete", data={"csrf_token": token, "on_use": "detach"})

    assert done.status_code == 302
    shown = admin_client.get(f"/workflows/{workflow.id}").get_data(as_text=True)
    assert re.search(r"Paused because tag &#39;VIP&#39; was deleted at [\d-]+ [\d:]+ UTC by Ada Admin", shown)
    session.expire_all()
    assert session.get(Tag, tag_id) is None and session.get(Workflow, workflow.id).status == "paused"


def test_delete_page_offers_no_delete_while_a_rule_uses_the_tag(admin_client: FlaskClient,
                                                                session: Session) -> None:
    tag = TagFactory(name="VIP")
    tag_id = tag.id
    segment = _segment_using(session, "VIP")

    page = admin_client.get(f"/tags/{tag.id}/delete").get_data(as_text=True)

    assert f'href="/segments/{segment.id}/edit">VIP list</a>' in page
    assert 'id="delete-refused"' in page and 'name="on_use"' not in page
    token = page_token(admin_client, f"/tags/{tag.id}/delete")
    forced = admin_client.post(f"/tags/{tag.id}/delete", data={"csrf_token": token, "on_use": "detach"})
    assert forced.status_code == 409
    session.expire_all()
    assert session.get(Tag, tag_id) is not None

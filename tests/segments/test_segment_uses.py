"""A segment that workflows, other segments or auto-tag rules use is never deleted silently, by the
service, the page or the API; renaming it keeps workflow triggers naming it."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from crm_segments.accounts import users
from crm_segments.models import AutoTagRule, Segment, User, Workflow
from crm_segments.schemas.segments import SegmentPatch
from crm_segments.segments.deletion import InUse
from crm_segments.segments.service import delete_segment, update_segment
from crm_segments.segments.usages import segment_users
from crm_segments.workflows.files import to_definition
from tests.factories import AdminFactory, TagFactory, UserFactory
from tests.signed_in import csrf_token_from
from tests.web.api.conftest import Api
from tests.workflows.helpers import active_workflow, definition

pytestmark = pytest.mark.usefixtures("backend")
STEPS = [{"key": "thank", "type": "add_tag", "tag": "thanked"}]


def _segment(session: Session, name: str, *, key: str | None = None,
             rule: dict[str, Any] | None = None) -> Segment:
    segment = Segment(name=name, key=key, kind="live" if rule else "static", rule=rule)
    session.add(segment)
    session.flush()
    return segment


def _triggered_by(session: Session, segment: Segment, name: str = "Follow-up") -> Workflow:
    return active_workflow(session, definition(segment, name=name, steps=STEPS))


@pytest.fixture
def admin_api(client: FlaskClient, session: Session) -> Api:
    user = UserFactory(role="admin", name="Key Owner")
    return Api(client, users.create_api_key(session=session, email=user.email, name="admin")[1])


def test_segment_users_are_triggers_rules_and_conditions(session: Session) -> None:
    quoted = _segment(session, "Quoted", key="quoted")
    trigger = _triggered_by(session, quoted)
    other = _segment(session, "Elsewhere")
    branching = active_workflow(session, definition(other, name="Branching", steps=[
        {"key": "check", "type": "branch", "rule": {"not": {"segment": "quoted"}}}, *STEPS]))
    text_value = {"field": "region", "op": "eq", "value": "quoted"}  # not a segment condition
    nested = _segment(session, "Quoted twice", rule={"all": [{"segment": quoted.id}, text_value]})
    rule = AutoTagRule(name="Mark quoted", entity_type="quote", tag_id=TagFactory().id, mode="sticky",
                       condition={"profile": {"segment": quoted.id}})
    session.add(rule)
    session.flush()

    found = {(u.kind, u.id, u.where, u.is_condition) for u in segment_users(session, quoted)}

    assert found == {("workflow", trigger.id, "trigger", False),
                     ("workflow", branching.id, "steps[0].rule.not.segment", False),
                     ("segment", nested.id, "rule.all[0].segment", True),
                     ("auto_tag_rule", rule.id, "condition.profile.segment", True)}


def test_delete_is_refused_then_detaching_pauses_the_workflow(session: Session) -> None:
    admin = AdminFactory(name="Ada Admin")
    quoted = _segment(session, "Quoted")
    workflow = _triggered_by(session, quoted)

    with pytest.raises(InUse, match="segment 'Quoted' is used by workflow 'Follow-up'"):
        delete_segment(session, quoted)
    assert session.get(Segment, quoted.id) is not None and workflow.status == "active"

    paused = delete_segment(session, quoted, on_use="detach", user_id=admin.id,
                            now=dt.datetime(2026, 12, 4, 19, 30, tzinfo=dt.UTC))

    assert paused == [workflow]
    assert workflow.status == "paused"
    assert workflow.paused_reason == "segment 'Quoted' was deleted at 2026-12-04 19:30 UTC by Ada Admin"


def test_a_segment_another_rule_tests_cannot_be_detached(session: Session) -> None:
    quoted = _segment(session, "Quoted", key="quoted")
    _segment(session, "Quoted twice", rule={"segment": "quoted"})
    with pytest.raises(InUse, match="change the conditions of segment 'Quoted twice' first"):
        delete_segment(session, quoted, on_use="detach")
    assert session.get(Segment, quoted.id) is not None


def test_renaming_keeps_the_trigger_name_the_editor_shows(session: Session) -> None:
    quoted = _segment(session, "Quoted")
    workflow = _triggered_by(session, quoted)
    update_segment(session, quoted, data=SegmentPatch.model_validate({"name": "Quoted this week"}))
    assert to_definition(workflow)["trigger"]["segment"] == "Quoted this week"
    assert workflow.trigger_segment_id == quoted.id


def test_api_answers_409_unless_asked_to_detach(admin_api: Api, session: Session) -> None:
    quoted = _segment(session, "Quoted")
    quoted_id = quoted.id
    workflow = _triggered_by(session, quoted)

    refused = admin_api.delete(f"/segments/{quoted_id}")

    assert refused.status_code == 409
    assert refused.json["error"]["used_by"] == [{
        "kind": "workflow", "id": workflow.id, "name": "Follow-up", "where": "trigger", "status": "active",
        "is_condition": False}]
    session.expire_all()
    assert session.get(Segment, quoted_id) is not None
    assert admin_api.delete(f"/segments/{quoted_id}?on_use=detach").status_code == 204
    session.expire_all()
    assert session.get(Segment, quoted_id) is None
    assert session.get(Workflow, workflow.id).status == "paused"
    spec = admin_api.get("/openapi.json").json["paths"]["/segments/{id}"]["delete"]
    assert "409" in spec["responses"] and [p["name"] for p in spec["parameters"]] == ["id", "on_use"]


def test_delete_page_lists_users_and_detaching_shows_the_reason(admin_client: FlaskClient, admin_user: User,
                                                                session: Session) -> None:
    quoted = _segment(session, "Quoted")
    quoted_id = quoted.id
    workflow = _triggered_by(session, quoted)

    page = admin_client.get(f"/segments/{quoted_id}/delete")

    text = page.get_data(as_text=True)
    assert page.status_code == 200 and f'href="/workflows/{workflow.id}">Follow-up</a>' in text
    token = csrf_token_from(page)
    refused = admin_client.post(f"/segments/{quoted_id}/delete", data={"csrf_token": token})
    assert refused.status_code == 409
    session.expire_all()
    assert session.get(Segment, quoted_id) is not None

    done = admin_client.post(f"/segments/{quoted_id}/delete", data={"csrf_token": token, "on_use": "detach"})

    assert done.status_code == 302
    shown = admin_client.get(f"/workflows/{workflow.id}").get_data(as_text=True)
    reason = r"Paused because segment &#39;Quoted&#39; was deleted at [\d-]+ [\d:]+ UTC by Ada Admin"
    assert re.search(reason, shown)
    session.expire_all()
    assert session.get(Segment, quoted_id) is None

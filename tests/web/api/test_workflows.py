"""The workflow endpoints: admins change workflows, every key reads them; responses match the spec."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.accounts import users
from crm_segments.models import Enrollment, EnrollmentStep
from tests.factories import AdminFactory, ProfileFactory
from tests.workflows.helpers import T0, definition, enter, make_segment

from .conftest import Api


@pytest.fixture
def admin_api(client: FlaskClient, session: Session) -> Api:
    admin = AdminFactory()
    return Api(client, users.create_api_key(session=session, email=admin.email, name="admin key")[1])


def _check(spec: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    schema = spec["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": spec["components"]}).validate(body)


def test_admin_creates_edits_activates_and_reads(admin_api: Api, api: Api, session: Session) -> None:
    spec = admin_api.get("/openapi.json").json
    segment = make_segment(session)
    created = admin_api.post("/workflows", json=definition(segment))
    assert created.status_code == 201, created.json
    _check(spec, "/workflows", "post", 201, created.json)
    workflow_id = created.json["id"]
    assert created.json["status"] == "draft"
    assert [s["key"] for s in created.json["definition"]["steps"]] == ["tag_one", "pause", "tag_two"]

    enter(session, segment, ProfileFactory(email_consent=True, email="x@example.com"), at=T0)
    dry = api.get(f"/workflows/{workflow_id}/dry-run")
    assert dry.status_code == 200
    _check(spec, "/workflows/{id}/dry-run", "get", 200, dry.json)
    assert dry.json["total"] == 1

    steps = created.json["definition"]["steps"]
    replaced = admin_api.put(f"/workflows/{workflow_id}", json={**created.json["definition"],
                                                               "steps": [steps[2], steps[0]]})
    assert replaced.status_code == 200, replaced.json
    assert [s["key"] for s in replaced.json["definition"]["steps"]] == ["tag_two", "tag_one"]
    assert replaced.json["version"] == 2

    activated = admin_api.post(f"/workflows/{workflow_id}/status", json={"status": "active"})
    assert (activated.status_code, activated.json["status"]) == (200, "active")

    listed = api.get("/workflows")
    _check(spec, "/workflows", "get", 200, listed.json)
    assert [w["id"] for w in listed.json["items"]] == [workflow_id]
    results = api.get(f"/workflows/{workflow_id}/results")
    _check(spec, "/workflows/{id}/results", "get", 200, results.json)
    assert results.json["enrolled"] == 0


def test_enrollments_and_their_steps(api: Api, session: Session) -> None:
    spec = api.get("/openapi.json").json
    segment = make_segment(session)
    from crm_segments.workflows.editing import create_workflow

    workflow = create_workflow(session=session, data=definition(segment))
    profile = ProfileFactory()
    enrollment = Enrollment(workflow_id=workflow.id, profile_id=profile.id, trigger_key="t", enrolled_at=T0,
                            status="active", current_step_key="pause", next_run_at=T0)
    session.add(enrollment)
    session.flush()
    session.add(EnrollmentStep(enrollment_id=enrollment.id, step_key="tag_one", step_type="add_tag",
                               outcome="tag_added", detail="followed up", ran_at=T0))
    session.flush()

    page = api.get(f"/workflows/{workflow.id}/enrollments?status=active")
    _check(spec, "/workflows/{id}/enrollments", "get", 200, page.json)
    assert [e["profile_id"] for e in page.json["items"]] == [profile.id]
    assert api.get(f"/workflows/{workflow.id}/enrollments?status=completed").json["items"] == []
    assert api.get(f"/workflows/{workflow.id}/enrollments?status=lost").status_code == 422
    one = api.get(f"/enrollments/{enrollment.id}")
    _check(spec, "/enrollments/{id}", "get", 200, one.json)
    assert [s["step_key"] for s in one.json["steps"]] == ["tag_one"]
    assert api.get("/enrollments/424242").status_code == 404


def test_sales_keys_cannot_change_workflows(sales_api: Api, session: Session) -> None:
    segment = make_segment(session)
    refused = sales_api.post("/workflows", json=definition(segment))
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "forbidden"


def test_bad_definitions_name_the_field_and_duplicates_conflict(admin_api: Api, session: Session) -> None:
    segment = make_segment(session)
    bad = admin_api.post("/workflows", json=definition(segment, steps=[{"type": "send_sms"}]))
    assert bad.status_code == 422
    assert [f["field"] for f in bad.json["error"]["fields"]] == ["steps[0].template"]
    assert admin_api.post("/workflows", json=definition(segment)).status_code == 201
    duplicate = admin_api.post("/workflows", json=definition(segment))
    assert (duplicate.status_code, duplicate.json["error"]["fields"][0]["field"]) == (409, "name")


def test_delete_only_without_enrollments(admin_api: Api, session: Session) -> None:
    segment = make_segment(session)
    workflow_id = admin_api.post("/workflows", json=definition(segment)).json["id"]
    assert admin_api.delete(f"/workflows/{workflow_id}").status_code == 204
    assert admin_api.get(f"/workflows/{workflow_id}").status_code == 404


def test_quote_saved_through_the_api_enrolls_at_once(api: Api, session: Session) -> None:
    from crm_segments.db import utcnow
    from crm_segments.models import Segment
    from crm_segments.workflows.editing import create_workflow
    from crm_segments.workflows.lifecycle import set_status

    segment = Segment(name="Open quotes", kind="live", rule={
        "records": "quotes", "where": {"field": "status", "op": "eq", "value": "sent"}, "exists": True})
    session.add(segment)
    session.flush()
    trigger = {"type": "segment_entered", "segment": "Open quotes",
               "record": {"type": "quote", "statuses": ["sent"]}}
    workflow = create_workflow(session=session, data=definition(segment, trigger=trigger))
    set_status(session=session, workflow_id=workflow.id, status="active", now=utcnow())
    profile = ProfileFactory(external_id="P-9")

    created = api.post("/quotes", json={"external_id": "Q-9", "profile_id": profile.id, "number": "Q-9",
                                        "status": "sent", "total": "120.00",
                                        "sent_at": utcnow().isoformat()})
    assert created.status_code == 201, created.json
    session.expire_all()
    [enrollment] = session.scalars(select(Enrollment).where(Enrollment.workflow_id == workflow.id)).all()
    assert (enrollment.profile_id, enrollment.trigger_record_type, enrollment.trigger_record_id) == (
        profile.id, "quote", created.json["id"])

"""Workflow endpoints: list, create, read, replace, delete, change status, dry run, results,
enrollments and one enrollment with its step log. Reading is open to every API key; changing a
workflow needs the key of an admin."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request

from crm_segments.db import utcnow
from crm_segments.models import Enrollment, Workflow
from crm_segments.records.validation import validate
from crm_segments.schemas._base import PageParams
from crm_segments.web.db import db_session
from crm_segments.workflows import editing, lifecycle, queries
from crm_segments.workflows.definition import WorkflowDefinition
from crm_segments.workflows.dry_run import dry_run
from crm_segments.workflows.files import to_definition
from crm_segments.workflows.results import workflow_results

from .routes import ADMIN_ONLY, Route, json_body
from .workflow_schemas import (
    DryRunItem,
    DryRunOut,
    EnrollmentDetailOut,
    EnrollmentFilters,
    EnrollmentOut,
    EnrollmentPage,
    EnrollmentStepOut,
    ResultsOut,
    ResultsParams,
    StatusIn,
    WorkflowOut,
    WorkflowPage,
)

TAG = "workflows"


def serialize(workflow: Workflow) -> dict[str, Any]:
    out = WorkflowOut.model_validate({**_columns(workflow), "definition": to_definition(workflow)})
    data: dict[str, Any] = out.model_dump(mode="json")
    return data


def _columns(row: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


def _enrollment(row: Enrollment) -> dict[str, Any]:
    data: dict[str, Any] = EnrollmentOut.model_validate(row).model_dump(mode="json")
    return data


def _reply(data: dict[str, Any], status: int) -> tuple[Response, int]:
    return jsonify(data), status


def list_workflows() -> Response:
    args = request.args.to_dict()
    paging = validate(PageParams, {k: args.pop(k) for k in ("limit", "after") if k in args})
    page = queries.list_workflows(session=db_session(), status=args.get("status") or None,
                                  limit=paging.limit, after=paging.after)
    return jsonify(items=[serialize(w) for w in page.items], next_after=page.next_after)


def create_workflow() -> tuple[Response, int]:
    workflow = editing.create_workflow(session=db_session(), data=json_body(), user_id=g.crm_api_user.id)
    return _reply(serialize(workflow), 201)


def get_workflow(id: int) -> Response:
    return jsonify(serialize(editing.get_workflow(session=db_session(), workflow_id=id)))


def replace_workflow(id: int) -> tuple[Response, int]:
    workflow = editing.update_workflow(session=db_session(), workflow_id=id, data=json_body())
    return _reply(serialize(workflow), 200)


def delete_workflow(id: int) -> tuple[Response, int]:
    queries.delete_workflow(session=db_session(), workflow_id=id)
    return Response(status=204), 204


def set_status(id: int) -> tuple[Response, int]:
    body = validate(StatusIn, json_body())
    workflow = lifecycle.set_status(session=db_session(), workflow_id=id, status=body.status, now=utcnow())
    return _reply(serialize(workflow), 200)


def workflow_dry_run(id: int) -> Response:
    result = dry_run(session=db_session(), workflow_id=id, now=utcnow())
    items = [DryRunItem(profile_id=r.profile.id, name=r.profile.full_name, email=r.profile.email,
                        action=r.action, at=r.at, step_key=r.step_key, notes=r.notes) for r in result.rows]
    return jsonify(DryRunOut(total=result.total, items=items).model_dump(mode="json"))


def results(id: int) -> Response:
    params = validate(ResultsParams, request.args.to_dict())
    editing.get_workflow(session=db_session(), workflow_id=id)
    found = workflow_results(session=db_session(), workflow_id=id, since=params.since)
    return jsonify(ResultsOut(**found.as_dict()).model_dump(mode="json"))


def list_enrollments(id: int) -> Response:
    args = request.args.to_dict()
    paging = validate(PageParams, {k: args.pop(k) for k in ("limit", "after") if k in args})
    filters = validate(EnrollmentFilters, args)
    page = queries.list_enrollments(session=db_session(), workflow_id=id, status=filters.status,
                                    profile_id=filters.profile_id, limit=paging.limit, after=paging.after)
    return jsonify(items=[_enrollment(e) for e in page.items], next_after=page.next_after)


def get_enrollment(id: int) -> Response:
    enrollment, steps = queries.get_enrollment(session=db_session(), enrollment_id=id)
    out = EnrollmentDetailOut.model_validate(
        {**_columns(enrollment), "steps": [EnrollmentStepOut.model_validate(s) for s in steps]})
    return jsonify(out.model_dump(mode="json"))


def workflow_routes() -> list[Route]:
    one = "/workflows/<int:id>"
    return [
        Route("/workflows", "GET", "workflows_list", list_workflows, "List workflows", TAG,
              query=(PageParams,), out=WorkflowPage, errors=(401, 422)),
        Route("/workflows", "POST", "workflows_create", create_workflow, "Create a workflow (as a draft)",
              TAG, body=WorkflowDefinition, ok=(201,), out=WorkflowOut, errors=(400, 401, 403, 409, 422),
              roles=ADMIN_ONLY),
        Route(one, "GET", "workflows_get", get_workflow, "Get a workflow", TAG, out=WorkflowOut,
              errors=(401, 404)),
        Route(one, "PUT", "workflows_replace", replace_workflow,
              "Replace a workflow's definition; steps keep their keys", TAG, body=WorkflowDefinition,
              out=WorkflowOut, errors=(400, 401, 403, 404, 409, 422), roles=ADMIN_ONLY),
        Route(one, "DELETE", "workflows_delete", delete_workflow,
              "Delete a workflow that never enrolled anyone", TAG, ok=(204,), errors=(401, 403, 404, 409),
              roles=ADMIN_ONLY),
        Route(f"{one}/status", "POST", "workflows_status", set_status,
              "Activate, pause, resume or archive a workflow", TAG, body=StatusIn, out=WorkflowOut,
              errors=(400, 401, 403, 404, 422), roles=ADMIN_ONLY),
        Route(f"{one}/dry-run", "GET", "workflows_dry_run", workflow_dry_run,
              "Who would be enrolled now, and what each would get first", TAG, out=DryRunOut,
              errors=(401, 404)),
        Route(f"{one}/results", "GET", "workflows_results", results,
              "Enrolled, sent, delivered, opened, clicked, bounced, unsubscribed, converted", TAG,
              query=(ResultsParams,), out=ResultsOut, errors=(401, 404, 422)),
        Route(f"{one}/enrollments", "GET", "workflows_enrollments", list_enrollments,
              "List a workflow's enrollments", TAG, query=(PageParams, EnrollmentFilters),
              out=EnrollmentPage, errors=(401, 404, 422)),
        Route("/enrollments/<int:id>", "GET", "enrollments_get", get_enrollment,
              "Get an enrollment with the steps it ran", TAG, out=EnrollmentDetailOut, errors=(401, 404)),
    ]

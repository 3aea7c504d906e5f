"""Workflow pages: the list, one workflow (summary, results, status), the editor (form and YAML),
dry run, enrollments with their step log, and results per segment. Admins edit; sales view."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as Redirect

from crm_segments.db import utcnow
from crm_segments.kernel.errors import Conflict, FieldError, NotFound, ValidationFailed
from crm_segments.kernel.record_ids import parse_id
from crm_segments.models import Enrollment, Profile, Segment, Tag, Workflow
from crm_segments.models.workflows import ENROLLMENT_STATUSES
from crm_segments.segments.describe import describe
from crm_segments.segments.rule_metadata import rule_metadata
from crm_segments.segments.rules import RuleError, parse_rule
from crm_segments.segments.service import segment_names
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session
from crm_segments.web.ui.common.profile_sections import ProfileSection, ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes
from crm_segments.web.ui.workflows.errors import error_place
from crm_segments.web.ui.workflows.form import (
    GOAL_PRESETS,
    EditorForm,
    apply_action,
    goal_item_value,
    read_form,
)
from crm_segments.workflows import editing, lifecycle, queries
from crm_segments.workflows.definition import date_fields
from crm_segments.workflows.dry_run import dry_run
from crm_segments.workflows.files import dump_yaml, read_yaml, reset_to_shipped, to_definition
from crm_segments.workflows.results import segment_results, step_counts, workflow_results
from crm_segments.workflows.step_types import STEP_TYPES, WEEKDAYS

routes = PageRoutes()

PAGE_SIZE = 50
STEP_LABELS = {"send_email": "Send email", "send_sms": "Send SMS", "wait": "Wait", "branch": "Branch",
               "add_tag": "Add tag", "remove_tag": "Remove tag", "notify_owner": "Notify owner",
               "exit": "Exit"}


def _workflow_or_404(workflow_id: int) -> Any:
    try:
        return editing.get_workflow(session=db_session(), workflow_id=workflow_id)
    except NotFound:
        abort(404)


@routes.route("/workflows")
@role_required("admin", "sales")
def workflows() -> str:
    session = db_session()
    page = queries.list_workflows(session=session, limit=500)
    ids = [w.id for w in page.items]
    return render_template("crm_segments/workflows/list.html", workflows=page.items,
                           definitions={w.id: to_definition(w) for w in page.items},
                           counts=queries.enrollment_counts(session=session, workflow_ids=ids),
                           results={i: workflow_results(session=session, workflow_id=i) for i in ids})


@routes.route("/workflows/<int:workflow_id>")
@role_required("admin", "sales")
def workflow(workflow_id: int) -> str:
    found = _workflow_or_404(workflow_id)
    session = db_session()
    return render_template(
        "crm_segments/workflows/detail.html", workflow=found, definition=to_definition(found),
        results=workflow_results(session=session, workflow_id=found.id), step_labels=STEP_LABELS,
        segment=session.get(Segment, found.trigger_segment_id) if found.trigger_segment_id else None,
        counts=queries.enrollment_counts(session=session, workflow_ids=[found.id]).get(found.id, {}),
    )


@routes.route("/workflows/new", methods=["GET", "POST"])
@role_required("admin")
def workflow_new() -> str | tuple[str, int] | Redirect:
    if request.method == "GET":
        blank = {"name": "", "trigger": {"type": "segment_entered"}, "reentry": {"policy": "once"},
                 "steps": [{"type": "send_email", "template": "", "category": "marketing"}]}
        return _editor(EditorForm(blank), workflow=None)
    editor, action = read_form(request.form)
    if action != "save":
        return _editor(editor, workflow=None, focus=apply_action(editor, action))
    return _save(editor, workflow=None)


@routes.route("/workflows/<int:workflow_id>/edit", methods=["GET", "POST"])
@role_required("admin")
def workflow_edit(workflow_id: int) -> str | tuple[str, int] | Redirect:
    found = _workflow_or_404(workflow_id)
    if request.method == "GET":
        return _editor(EditorForm(to_definition(found)), workflow=found)
    editor, action = read_form(request.form)
    if action != "save":
        return _editor(editor, workflow=found, focus=apply_action(editor, action))
    return _save(editor, workflow=found)


def _save(editor: EditorForm, *, workflow: Any) -> str | tuple[str, int] | Redirect:
    session = db_session()
    if editor.errors:  # fields the form could not read; the service still reports all the others
        try:
            editing.checked(session, editor.data)
        except ValidationFailed as exc:
            # an unreadable number was read as 0: what the service says of 0 there is not news
            named = [e.field for e in editor.errors]
            editor.errors += [e for e in exc.errors
                              if not any(f == e.field or f.startswith(f"{e.field}.") for f in named)]
        return _editor(editor, workflow=workflow, status=400)
    try:
        if workflow is None:
            saved = editing.create_workflow(session=session, data=editor.data, user_id=current_user.id)
        else:
            saved = editing.update_workflow(session=session, workflow_id=workflow.id, data=editor.data)
    except ValidationFailed as exc:
        session.rollback()
        editor.errors = exc.errors
        return _editor(editor, workflow=workflow, status=400)
    except Conflict as exc:
        session.rollback()
        editor.errors = [FieldError(exc.field, exc.message)]
        return _editor(editor, workflow=workflow, status=409)
    flash(f"Saved {saved.name} (version {saved.version}).", "success")
    return redirect(url_for("crm_ui.workflow", workflow_id=saved.id))


def _editor(editor: EditorForm, *, workflow: Any, status: int = 200,
            focus: str = "") -> str | tuple[str, int]:
    session = db_session()
    from crm_segments.templates.template_store import list_templates

    goal_items = (editor.data.get("goal") or {}).get("since_enrollment") or []
    presets = [(label, goal_item_value(item)) for label, item in GOAL_PRESETS]
    preset_values = {value for _, value in presets}
    extra = [(f"{i['record']} {i.get('status') or ''} since enrollment", goal_item_value(i))
             for i in goal_items if goal_item_value(i) not in preset_values]
    body = render_template(
        "crm_segments/workflows/edit.html", editor=editor, data=editor.data, workflow=workflow,
        segments=list(session.scalars(select(Segment).order_by(Segment.name))),
        tags=list(session.scalars(select(Tag.name).order_by(Tag.name_key))),
        templates=list_templates(session), date_fields=date_fields(), weekdays=WEEKDAYS,
        step_types=STEP_TYPES, step_labels=STEP_LABELS, goal_options=presets + extra,
        rule_metadata={**rule_metadata(), "segments": []},
        goal_checked={goal_item_value(i) for i in goal_items}, focus=focus,
        conditions=_conditions(session, editor.data.get("steps") or []),
        step_counts=step_counts(session=session, workflow_id=workflow.id) if workflow else {},
        error_place=lambda field: error_place(field, editor.data.get("steps") or [], STEP_LABELS),
    )
    return (body, status) if status != 200 else body


def _conditions(session: Session, steps: list[dict[str, Any]]) -> dict[int, str]:
    """Each branch's condition in words, by step position (none for a rule that does not parse)."""
    names = segment_names(session)
    sentences = {}
    for index, step in enumerate(steps):
        if step.get("type") == "branch" and step.get("rule"):
            try:
                sentences[index] = describe(parse_rule(step["rule"]), segment_names=names)
            except (RuleError, TypeError, ValueError):
                continue
    return sentences


@routes.route("/workflows/<int:workflow_id>/yaml", methods=["GET", "POST"])
@role_required("admin", "sales")
def workflow_yaml(workflow_id: int) -> Any:
    found = _workflow_or_404(workflow_id)
    if request.method == "GET":
        if request.args.get("download"):
            return Response(dump_yaml(found), mimetype="application/yaml", headers={
                "Content-Disposition": f"attachment; filename={found.key or f'workflow_{found.id}'}.yaml"})
        return render_template("crm_segments/workflows/yaml.html", workflow=found, text=dump_yaml(found),
                               errors=[])
    if current_user.role != "admin":
        abort(403)
    text = request.form.get("text", "")
    session = db_session()
    try:
        saved = editing.update_workflow(session=session, workflow_id=found.id,
                                        data=read_yaml(text, source="yaml"))
    except (ValidationFailed, Conflict) as exc:
        session.rollback()
        errors = exc.errors if isinstance(exc, ValidationFailed) else [FieldError(exc.field, exc.message)]
        return render_template("crm_segments/workflows/yaml.html", workflow=found, text=text,
                               errors=errors,
                               error_place=lambda field: error_place(field, [], STEP_LABELS)), 400
    flash(f"Saved {saved.name} (version {saved.version}).", "success")
    return redirect(url_for("crm_ui.workflow", workflow_id=saved.id))


@routes.route("/workflows/<int:workflow_id>/status", methods=["POST"])
@role_required("admin")
def workflow_status(workflow_id: int) -> Redirect:
    found = _workflow_or_404(workflow_id)
    session = db_session()
    try:
        lifecycle.set_status(session=session, workflow_id=found.id, status=request.form.get("status", ""),
                             now=utcnow())
    except ValidationFailed as exc:
        session.rollback()
        flash(str(exc), "error")
    else:
        flash(f"{found.name} is now {found.status}.", "success")
    return redirect(url_for("crm_ui.workflow", workflow_id=found.id))


@routes.route("/workflows/<int:workflow_id>/reset", methods=["POST"])
@role_required("admin")
def workflow_reset(workflow_id: int) -> Redirect:
    found = _workflow_or_404(workflow_id)
    session = db_session()
    try:
        reset_to_shipped(session=session, workflow_id=found.id)
    except (ValidationFailed, Conflict) as exc:
        session.rollback()
        flash(str(exc), "error")
    else:
        flash(f"{found.name} is back to its shipped definition.", "success")
    return redirect(url_for("crm_ui.workflow", workflow_id=found.id))


@routes.route("/workflows/<int:workflow_id>/dry-run")
@role_required("admin", "sales")
def workflow_dry_run(workflow_id: int) -> str:
    found = _workflow_or_404(workflow_id)
    result = dry_run(session=db_session(), workflow_id=found.id, now=utcnow())
    return render_template("crm_segments/workflows/dry_run.html", workflow=found, result=result)


@routes.route("/workflows/<int:workflow_id>/enrollments")
@role_required("admin", "sales")
def workflow_enrollments(workflow_id: int) -> str:
    found = _workflow_or_404(workflow_id)
    session = db_session()
    status = request.args.get("status", "")
    status = status if status in ENROLLMENT_STATUSES else ""
    after = request.args.get("after", "")
    page = queries.list_enrollments(session=session, workflow_id=found.id, status=status or None,
                                    limit=PAGE_SIZE, after=parse_id(after))
    profiles = queries.profile_names(session=session, profile_ids=[e.profile_id for e in page.items])
    return render_template("crm_segments/workflows/enrollments.html", workflow=found, page=page,
                           profiles=profiles, status=status, statuses=ENROLLMENT_STATUSES)


@routes.route("/workflows/enrollments/<int:enrollment_id>")
@role_required("admin", "sales")
def workflow_enrollment(enrollment_id: int) -> str:
    session = db_session()
    try:
        enrollment, steps = queries.get_enrollment(session=session, enrollment_id=enrollment_id)
    except NotFound:
        abort(404)
    found = editing.get_workflow(session=session, workflow_id=enrollment.workflow_id)
    profiles = queries.profile_names(session=session, profile_ids=[enrollment.profile_id])
    profile = profiles[enrollment.profile_id]
    return render_template("crm_segments/workflows/enrollment.html", workflow=found, enrollment=enrollment,
                           steps=steps, profile=profile, step_labels=STEP_LABELS)


@routes.route("/workflows/results")
@role_required("admin", "sales")
def workflow_results_page() -> str:
    return render_template("crm_segments/workflows/results.html", rows=segment_results(session=db_session()))


PROFILE_ENROLLMENTS_SHOWN = 10


def _profile_enrollments(session: Session, profile: Profile) -> dict[str, Any]:
    rows = session.execute(
        select(Enrollment, Workflow.name).join(Workflow, Workflow.id == Enrollment.workflow_id)
        .where(Enrollment.profile_id == profile.id)
        .order_by(Enrollment.enrolled_at.desc(), Enrollment.id.desc())
        .limit(PROFILE_ENROLLMENTS_SHOWN + 1)
    ).all()
    return {"enrollments": [(enrollment, name) for enrollment, name in rows[:PROFILE_ENROLLMENTS_SHOWN]],
            "more": len(rows) > PROFILE_ENROLLMENTS_SHOWN}


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)
    sections.add(ProfileSection(
        key="workflows", title="Workflows", template="crm_segments/workflows/_profile_enrollments.html",
        context=_profile_enrollments, column="main", order=65,
    ))

"""Segment pages: list, segment page (rule in words, members, export, size chart, event log),
editor with the visual rule builder and live preview, overlap, cohorts, and the profile page's
"Segments" section (membership and why a profile is in or not in a segment).

Sales people view, refresh and export; only admins create, change, reset or delete segments and
edit static lists.
"""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import FileField, IntegerField, SelectField, StringField, TextAreaField

from crm_segments.db import READ_ONLY, utcnow
from crm_segments.kernel.errors import Conflict, FieldError, NotFound, ValidationFailed
from crm_segments.kernel.json_text import parse_json
from crm_segments.kernel.record_ids import MAX_ID, parse_id
from crm_segments.models import Profile, Segment, SegmentMember, Workflow
from crm_segments.models.segments import SEGMENT_KINDS
from crm_segments.records.validation import validate
from crm_segments.schemas.segments import SegmentIn, SegmentPatch
from crm_segments.segments import cohorts, members, preview, reports, service, static_lists
from crm_segments.segments.acquisition import source_shares
from crm_segments.segments.deletion import InUse
from crm_segments.segments.explain import explain
from crm_segments.segments.parameter_merge import rule_or_parameters
from crm_segments.segments.prebuilt import reset_to_shipped
from crm_segments.segments.query_errors import QueryFailed, failure_message
from crm_segments.segments.rule_metadata import rule_metadata
from crm_segments.segments.rules import RuleError, parse_rule
from crm_segments.segments.usages import segment_users
from crm_segments.state import get_state
from crm_segments.tasks.queue import active_task
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session, reads_only
from crm_segments.web.ui.common.forms import json_object
from crm_segments.web.ui.common.profile_sections import ProfileSection, ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes
from crm_segments.web.ui.segments.chart import size_chart
from crm_segments.web.ui.segments.parameters import (
    builtin_of,
    parameter_fields,
    parameters_from_form,
    read_parameters,
)
from crm_segments.web.ui.tasks import queue_task
from crm_segments.workflows.results import Results, results_by

routes = PageRoutes()

log = logging.getLogger(__name__)
VIEWERS = ("admin", "sales")


class SegmentForm(FlaskForm):
    name = StringField("Name")
    description = TextAreaField("Description")
    kind = SelectField("Kind (live: a rule; static: a list kept by hand; query: an admin's SELECT)",
                       choices=list(SEGMENT_KINDS))
    refresh_interval_minutes = IntegerField("Refresh every (minutes, 0 = only by hand)", default=60)
    rule = TextAreaField("Rule (JSON)")
    query_sql = TextAreaField("Query (one SELECT returning profile ids)")
    parameters = TextAreaField("Parameters (JSON)")


class ConfirmForm(FlaskForm):
    """Only the CSRF token: the button is the confirmation."""


class MembersForm(FlaskForm):
    action = SelectField("Action", choices=["add", "remove"])
    ids = StringField("Profile ids (comma separated)")
    file = FileField("or a CSV of emails / external ids")


def _segment_or_404(segment_id: int) -> Segment:
    try:
        return service.get_segment(db_session(), segment_id)
    except NotFound:
        abort(404)


def _errors(exc: ValidationFailed | Conflict) -> dict[str, str]:
    if isinstance(exc, Conflict):
        return {exc.field: exc.message}
    return {e.field: e.message for e in exc.errors}


def _queue_refresh(segment_id: int) -> WerkzeugResponse:
    """Refresh in the background (a refresh can take seconds at scale) and follow it on its page."""
    task = queue_task("segment_refresh", {"segment_id": segment_id}, subject=f"segment:{segment_id}")
    return redirect(url_for("crm_ui.task", task_id=task.id))


# --- list and page ------------------------------------------------------------------------------

@routes.route("/segments")
@role_required(*VIEWERS)
def segments() -> str:
    session = db_session()
    listed = service.list_segments(session)
    names = service.segment_names(session)
    return render_template("crm_segments/segments/list.html", segments=listed, confirm=ConfirmForm(),
                           rule_texts={s.id: service.rule_text(s, names) for s in listed})


@routes.route("/segments/<int:segment_id>")
@role_required(*VIEWERS)
def segment(segment_id: int) -> str:
    session = db_session()
    seg = _segment_or_404(segment_id)
    after = parse_id(request.args.get("after"))
    q = (request.args.get("q") or "").strip()
    page = members.members_page(session, seg.id, q=q or None, after=after, limit=50)
    events = reports.events_page(session, seg.id, before=parse_id(request.args.get("before")), limit=25)
    triggered = session.scalars(select(Workflow).where(Workflow.trigger_segment_id == seg.id)
                                .order_by(Workflow.name)).all()
    results = results_by(session, Workflow.id, where=Workflow.trigger_segment_id == seg.id)
    workflows = [(w, results.get(w.id, Results())) for w in triggered]
    return render_template(
        "crm_segments/segments/page.html", segment=seg, page=page, q=q, events=events, workflows=workflows,
        chart=size_chart(session, seg, now=utcnow()), sources=source_shares(session, seg.id),
        rule_text=service.rule_text(seg, service.segment_names(session)),
        confirm=ConfirmForm(), members_form=MembersForm(),
        refreshing=active_task(session, f"segment:{seg.id}"),
        next_url=url_for("crm_ui.segment", segment_id=seg.id, q=q or None, after=page.next_after)
        if page.next_after else None,
        older_url=url_for("crm_ui.segment", segment_id=seg.id, before=events.next_before, _anchor="log")
        if events.next_before else None,
    )


@routes.route("/segments/<int:segment_id>/export.csv")
@role_required(*VIEWERS)
def segment_export(segment_id: int) -> Response:
    seg = _segment_or_404(segment_id)
    filename = "".join(c if c.isalnum() else "-" for c in seg.name).strip("-").lower() or "segment"
    factory = get_state(current_app).session_factory
    chunks = members.export_csv(partial(factory, execution_options=READ_ONLY), seg.id)
    return Response(chunks, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'})


@routes.route("/segments/<int:segment_id>/refresh", methods=["POST"])
@role_required(*VIEWERS)
def segment_refresh(segment_id: int) -> WerkzeugResponse:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    seg = _segment_or_404(segment_id)
    return _queue_refresh(seg.id)


# --- admin actions ------------------------------------------------------------------------------

@routes.route("/segments/<int:segment_id>/reset", methods=["POST"])
@role_required("admin")
def segment_reset(segment_id: int) -> WerkzeugResponse:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    seg = _segment_or_404(segment_id)
    try:
        reset_to_shipped(seg)
    except ValidationFailed as exc:
        db_session().rollback()
        flash(str(exc), "error")
        return redirect(url_for("crm_ui.segment", segment_id=segment_id))
    flash(f"{seg.name} is back to its shipped rule.", "success")
    return _queue_refresh(segment_id)


@routes.route("/segments/<int:segment_id>/delete", methods=["GET", "POST"])
@role_required("admin")
def segment_delete(segment_id: int) -> tuple[str, int] | WerkzeugResponse:
    """The page lists every user of the segment; the admin keeps it or deletes it and pauses the
    workflows that use it. A post that would leave a user behind is refused with the same page."""
    seg = _segment_or_404(segment_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        if request.method == "POST":
            abort(400)
        return _delete_page(seg, form, 200)
    name = seg.name
    try:
        paused = service.delete_segment(db_session(), seg, on_use=request.form.get("on_use", "refuse"),
                                        user_id=current_user.id)
    except (InUse, ValidationFailed) as exc:
        flash(f"Nothing was deleted: {exc}", "error")
        return _delete_page(seg, form, 409 if isinstance(exc, InUse) else 422)
    note = f" Paused workflows: {', '.join(w.name for w in paused)}." if paused else ""
    flash(f"Deleted {name}.{note}", "success")
    return redirect(url_for("crm_ui.segments"))


def _delete_page(seg: Segment, form: ConfirmForm, status: int) -> tuple[str, int]:
    uses = segment_users(db_session(), seg)
    return render_template("crm_segments/segments/delete.html", segment=seg, uses=uses, form=form), status


@routes.route("/segments/<int:segment_id>/members", methods=["POST"])
@role_required("admin")
def segment_members_change(segment_id: int) -> WerkzeugResponse:
    form = MembersForm()
    if not form.validate_on_submit():
        abort(400)
    seg = _segment_or_404(segment_id)
    session = db_session()
    action: static_lists.Action = "remove" if form.action.data == "remove" else "add"
    upload = request.files.get("file")
    try:
        if upload is not None and upload.filename:
            report = static_lists.change_by_csv(session, seg, upload.read(), action=action, now=utcnow(),
                                                actor_id=current_user.id)
            diff = report.diff
            if report.unmatched_count:
                shown = "; ".join(f"line {line}: {value}" for line, value in report.unmatched[:20])
                more = f" and {report.unmatched_count - 20:,} more" if report.unmatched_count > 20 else ""
                flash(f"{report.unmatched_count:,} of {report.rows:,} lines matched no profile by "
                      f"{report.column}: {shown}{more}", "warning")
        else:
            ids = [part.strip() for part in (form.ids.data or "").split(",") if part.strip()]
            chosen = [parse_id(i) for i in ids]
            if None in chosen:
                wanted = f"give profile ids (whole numbers from 1 to {MAX_ID}), comma separated"
                raise ValidationFailed([FieldError("ids", wanted)])
            diff = static_lists.change_by_ids(session, seg, chosen, action=action,
                                              now=utcnow(), actor_id=current_user.id)
    except ValidationFailed as exc:
        session.rollback()
        flash("Nothing was changed: " + "; ".join(str(e) for e in exc.errors[:20]), "error")
        return redirect(url_for("crm_ui.segment", segment_id=segment_id))
    flash(f"{diff.entered:,} added, {diff.exited:,} removed.", "success")
    return redirect(url_for("crm_ui.segment", segment_id=segment_id))


# --- editor -------------------------------------------------------------------------------------

def _json_field(text: str | None, field: str) -> Any:
    if text is None or not text.strip():
        return None
    try:
        return parse_json(text)
    except ValueError as exc:
        raise ValidationFailed([FieldError(field, f"is not valid JSON: {exc}")]) from None


def _editor_data(form: SegmentForm, seg: Segment | None) -> dict[str, Any]:
    """The editor's fields as the API's input (``SegmentIn``, ``SegmentPatch``) reads them: the same checks
    and messages, shown by each field."""
    kind = seg.kind if seg is not None else form.kind.data
    minutes = (form.refresh_interval_minutes.raw_data or [""])[0]  # the model names what is wrong with it
    data: dict[str, Any] = {"name": form.name.data or "", "description": form.description.data or "",
                            "refresh_interval_minutes": minutes}
    if seg is None:
        data["kind"] = kind
    if kind == "live":
        parameters = parameters_from_form(request.form, seg)
        if parameters is None:
            parameters = _json_field(form.parameters.data, "parameters")
        data.update(rule_or_parameters(seg, _json_field(form.rule.data, "rule"), parameters))
    elif kind == "query":
        data["query_sql"] = form.query_sql.data or ""
    return data


def _editor(form: SegmentForm, seg: Segment | None, errors: dict[str, str]) -> tuple[str, int]:
    session = db_session()
    metadata = rule_metadata()
    metadata["segments"] = [{"id": s.id, "key": s.key, "name": s.name}
                            for s in service.list_segments(session) if seg is None or s.id != seg.id]
    return render_template("crm_segments/segments/edit.html", form=form, segment=seg, errors=errors,
                           metadata=metadata, kinds=SEGMENT_KINDS,
                           parameter_fields=parameter_fields(session, seg)), 422 if errors else 200


@routes.route("/segments/new", methods=["GET", "POST"])
@role_required("admin")
def segment_new() -> tuple[str, int] | WerkzeugResponse:
    form = SegmentForm()
    if not form.is_submitted():
        form.rule.data = json.dumps({"all": [{"field": "lifecycle_status", "op": "eq", "value": "customer"}]},
                                    indent=2)
        return _editor(form, None, {})
    form.validate()  # fills the fields; CSRF is checked app-wide and values by the input models
    try:
        seg = service.create_segment(db_session(), data=validate(SegmentIn, _editor_data(form, None)),
                                     actor_id=current_user.id)
    except (ValidationFailed, Conflict) as exc:
        db_session().rollback()
        return _editor(form, None, _errors(exc))
    if seg.kind != "static":
        flash(f"Created {seg.name}.", "success")
        return _queue_refresh(seg.id)
    flash(f"Created the static list {seg.name}.", "success")
    return redirect(url_for("crm_ui.segment", segment_id=seg.id))


@routes.route("/segments/<int:segment_id>/edit", methods=["GET", "POST"])
@role_required("admin")
def segment_edit(segment_id: int) -> tuple[str, int] | WerkzeugResponse:
    seg = _segment_or_404(segment_id)
    form = SegmentForm(obj=seg if request.method == "GET" else None)
    if request.method == "GET":
        form.rule.data = json.dumps(seg.rule, indent=2) if seg.rule else ""
        form.parameters.data = json.dumps(seg.parameters) if seg.parameters is not None else ""
        return _editor(form, seg, {})
    form.validate()  # fills the fields; CSRF is checked app-wide and values by the input models
    try:
        service.update_segment(db_session(), seg, data=validate(SegmentPatch, _editor_data(form, seg)))
    except (ValidationFailed, Conflict) as exc:
        db_session().rollback()
        return _editor(form, _segment_or_404(segment_id), _errors(exc))
    if seg.kind != "static":
        flash(f"Saved {seg.name}.", "success")
        return _queue_refresh(seg.id)
    return redirect(url_for("crm_ui.segment", segment_id=seg.id))


@routes.route("/segments/preview", methods=["POST"])
@reads_only
@role_required("admin")
def segment_preview() -> tuple[Response, int]:
    """Live preview for the editor: ``{"rule": ...}`` or ``{"query_sql": ...}`` as JSON."""
    body = json_object()
    if body is None:
        return jsonify(error={"field": "body", "message": "send a JSON object"}), 400
    session = db_session()
    try:
        if "query_sql" in body:
            result = preview.preview_query(session, str(body["query_sql"]), sample_size=5)
        else:
            given = body.get("segment_id")  # null while a new segment is edited
            segment_id = parse_id(str(given)) if given is not None and not isinstance(given, bool) else None
            if given is not None and segment_id is None:
                raise ValidationFailed([FieldError("segment_id", f"must be a segment id (1 to {MAX_ID})")])
            result = preview.preview_rule(session, _previewed_rule(session, body, segment_id), now=utcnow(),
                                          segment_id=segment_id, sample_size=5)
    except ValidationFailed as exc:
        first = exc.errors[0]
        return jsonify(error={"field": first.field, "message": first.message}), 422
    except QueryFailed as exc:  # the query ran and failed: its kind and where, never the database's text
        session.rollback()
        return jsonify(error={"field": "query_sql", "message": str(exc)}), 422
    except Exception as exc:  # tell the editor, never a 500 page; the text stays in the log
        session.rollback()
        log.exception("segment preview failed")
        return jsonify(error={"field": "query_sql", "message": failure_message(exc)}), 422
    return jsonify(count=result.count, email_reachable=result.email_reachable,
                   sms_reachable=result.sms_reachable,
                   sample=[{"id": p.id, "name": p.full_name, "email": p.email,
                            "url": url_for("crm_ui.profile", profile_id=p.id)} for p in result.sample]), 200


def _previewed_rule(session: Session, body: dict[str, Any], segment_id: int | None) -> Any:
    """The rule a save would store: new parameter values of a built-in rebuild it, as on save."""
    given = body.get("parameters")
    segment = session.get(Segment, segment_id) if segment_id is not None else None
    builtin = builtin_of(segment)
    if builtin is None or not isinstance(given, dict):
        return body.get("rule")
    stored = rule_or_parameters(segment, body.get("rule"), read_parameters(builtin, given))
    return stored["rule"] if "rule" in stored else builtin.build(stored["parameters"])


# --- overlap and cohorts ------------------------------------------------------------------------

@routes.route("/segments/overlap")
@role_required(*VIEWERS)
def segment_overlap() -> str:
    session = db_session()
    all_segments = service.list_segments(session)
    a, b = parse_id(request.args.get("a")), parse_id(request.args.get("b"))
    result = None
    if a and b and session.get(Segment, a) and session.get(Segment, b):
        result = reports.overlap(session, a, b)
    return render_template("crm_segments/segments/overlap.html", segments=all_segments, a=a, b=b,
                           result=result)


@routes.route("/segments/cohorts")
@role_required(*VIEWERS)
def segment_cohorts() -> str:
    basis: cohorts.Basis = "quote" if request.args.get("basis") == "quote" else "purchase"
    months = max(1, min(request.args.get("months", default=12, type=int), 36))
    rows = cohorts.cohorts(db_session(), now=utcnow(), basis=basis, months=months)
    width = max((len(r.active) for r in rows), default=0)
    return render_template("crm_segments/segments/cohorts.html", rows=rows, basis=basis, months=months,
                           width=width, bases=cohorts.BASES)


# --- the profile page's section -----------------------------------------------------------------

def _profile_segments(session: Session, profile: Profile) -> dict[str, Any]:
    memberships = session.execute(
        select(Segment, SegmentMember.entered_at).join(SegmentMember, SegmentMember.segment_id == Segment.id)
        .where(SegmentMember.profile_id == profile.id).order_by(Segment.name)).all()
    live = [s for s in service.list_segments(session) if s.kind == "live"]
    chosen = parse_id(request.args.get("explain"))
    explanation, explained = None, None
    if chosen is not None:
        explained = next((s for s in live if s.id == chosen), None)
        if explained is not None and explained.rule:
            try:
                explanation = explain(session, parse_rule(explained.rule), profile.id, now=utcnow(),
                                      segment_names=service.segment_names(session))
            except RuleError as exc:
                flash(f"The rule of {explained.name} cannot be explained: {exc}", "error")
    return {"memberships": memberships, "live": live, "explained": explained, "explanation": explanation}


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)
    sections.add(ProfileSection(
        key="segments", title="Segments", template="crm_segments/segments/_profile_segments.html",
        context=_profile_segments, column="main", order=40,
    ))

"""Bulk tagging from the profiles list (selected rows, the whole filtered result, or a segment) and
from the quote, job and opportunity lists (selected rows or the whole filtered result), by CSV
upload, and the history of bulk operations with undo."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import RadioField, StringField

from crm_segments.kernel.errors import Conflict, FieldError, NotFound, RateLimited, ValidationFailed
from crm_segments.kernel.record_ids import parse_id
from crm_segments.models import BulkOperation, Segment, Tag, User
from crm_segments.records import queries as record_queries
from crm_segments.selection.from_csv import csv_selection
from crm_segments.tagging import bulk
from crm_segments.tagging.bulk_task import SELECTION_FIELDS, check_action, selection_for, summary
from crm_segments.tagging.names import existing_tags, get_or_create_tags
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session
from crm_segments.web.ui.common.bulk_confirm import confirmation_page, selection_size
from crm_segments.web.ui.common.forms import safe_path
from crm_segments.web.ui.common.profile_sections import ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes
from crm_segments.web.ui.tags.views import tags_per_minute, tags_per_request
from crm_segments.web.ui.tasks import queue_task

routes = PageRoutes()

OPERATIONS_PER_PAGE = 50
ERRORS_SHOWN = 200


def split_tag_names(raw: str) -> list[str]:
    return [part for part in (p.strip() for p in raw.split(",")) if part]


def tags_for(action: str, names: list[str], *, field: str = "tags") -> list[Tag]:
    """Tags to add are created when missing (within the person's new tags a minute); tags to remove
    must exist. At most CRM_SEGMENTS_TAGS_PER_REQUEST names either way."""
    session = db_session()
    if action == "add":
        return get_or_create_tags(session=session, names=names, created_by_id=current_user.id, field=field,
                                  per_minute=tags_per_minute(), per_request=tags_per_request())
    return existing_tags(session=session, names=names, field=field, per_request=tags_per_request())


def _entity_type() -> str:
    entity_type = request.form.get("entity_type", "").strip() or "profile"
    if entity_type != "profile" and entity_type not in record_queries.KINDS:
        raise ValidationFailed([FieldError("entity_type", "must be profile, quote, job or opportunity")])
    return entity_type


def _back_path() -> str:
    entity_type = request.form.get("entity_type", "")
    fallback = (url_for("crm_ui.record_list", kind=record_queries.KINDS[entity_type].path)
                if entity_type in record_queries.KINDS else url_for("crm_ui.profiles"))
    return safe_path(request.form.get("next"), fallback)


def _back() -> Response:
    return redirect(_back_path())


@routes.route("/tags/bulk", methods=["POST"])
@role_required("admin", "sales")
def tag_bulk() -> Response | str:
    """Selected rows are tagged at once; a whole filtered list or segment is tagged by a background
    task whose page follows it (a whole base can take seconds)."""
    session = db_session()
    action, scope = request.form.get("action", ""), request.form.get("scope", "")
    fields = {key: value for key, value in request.form.items() if key in SELECTION_FIELDS}
    try:
        check_action(action)
        entity_type = _entity_type()
        chosen = selection_for(session, entity_type=entity_type, scope=scope, fields=fields)
        names = ", ".join(repr(name) for name in split_tag_names(request.form.get("tags", "")))
        page = confirmation_page(selection_size(session, chosen), entity_type=entity_type, back=_back_path(),
                                 doing=f"Add {names} to" if action == "add" else f"Remove {names} from")
        if page is not None:
            return page  # tags to add are created only once confirmed
        tags = tags_for(action, split_tag_names(request.form.get("tags", "")))
        if scope == "selected":
            result = bulk.bulk_tag(session=session, action=action, selection=chosen, tags=tags,
                                   user_id=current_user.id)
    except (ValidationFailed, NotFound, RateLimited) as exc:
        session.rollback()
        flash(f"Nothing was changed: {exc}", "error")
        return _back()
    if scope == "selected":
        flash(summary(result), "success")
        return _back()
    task = queue_task("bulk_tag", {"action": action, "entity_type": entity_type, "scope": scope,
                                   "fields": fields, "tag_ids": [t.id for t in tags]}, subject="bulk_tag")
    return redirect(url_for("crm_ui.task", task_id=task.id))


@routes.app_template_global("crm_bulk_segments")
def bulk_segments() -> list[tuple[int, str]]:
    """Segments a bulk operation can target, for the bulk bar's picker."""
    rows = db_session().execute(select(Segment.id, Segment.name).order_by(Segment.name))
    return [(segment_id, name) for segment_id, name in rows]


class CsvTagForm(FlaskForm):
    action = RadioField("Action", choices=["add", "remove"], default="add")
    tags = StringField("Tags")
    file = FileField("CSV file", validators=[FileRequired("Choose a CSV file.")])


@routes.route("/tags/bulk/csv", methods=["GET", "POST"])
@role_required("admin", "sales")
def tag_bulk_csv() -> tuple[str, int] | Response:
    form = CsvTagForm()
    context: dict[str, Any] = {"form": form, "errors": [], "error_count": 0, "shown": ERRORS_SHOWN}
    if not form.validate_on_submit():
        return render_template("crm_segments/tags/csv.html", **context), 400 if form.errors else 200
    session = db_session()
    upload = form.file.data
    try:
        tags = tags_for(form.action.data or "", split_tag_names(form.tags.data or ""))
        chosen = csv_selection(session=session, content=upload.stream.read(), filename=upload.filename or "")
        result = bulk.bulk_tag(session=session, action=form.action.data or "", selection=chosen, tags=tags,
                               user_id=current_user.id)
    except (ValidationFailed, RateLimited) as exc:
        session.rollback()
        found = exc.errors if isinstance(exc, ValidationFailed) else [FieldError("tags", exc.message)]
        context.update(errors=found[:ERRORS_SHOWN], error_count=len(found), filename=upload.filename)
        return render_template("crm_segments/tags/csv.html", **context), \
            429 if isinstance(exc, RateLimited) else 422
    flash(summary(result), "success")
    return redirect(url_for("crm_ui.tag_operations"))


class UndoForm(FlaskForm):
    """Only the CSRF token."""


@routes.route("/tags/bulk-operations")
@role_required("admin", "sales")
def tag_operations() -> str:
    session = db_session()
    before = request.args.get("before", "")
    operations = bulk.list_operations(session=session, limit=OPERATIONS_PER_PAGE + 1,
                                      before=parse_id(before))
    more = len(operations) > OPERATIONS_PER_PAGE
    operations = operations[:OPERATIONS_PER_PAGE]
    user_ids = {o.created_by_id for o in operations} | {o.undone_by_id for o in operations}
    # a user without a name is shown by email
    names = {user_id: name or email for user_id, name, email in session.execute(
        select(User.id, User.name, User.email).where(User.id.in_(user_ids - {None}))).all()}
    return render_template("crm_segments/tags/operations.html", operations=operations, names=names,
                           form=UndoForm(), next_before=operations[-1].id if more else None)


def can_undo(operation: BulkOperation) -> bool:
    return operation.undone_at is None and (
        current_user.role == "admin" or operation.created_by_id == current_user.id)


@routes.app_template_global("crm_can_undo")
def _can_undo_global(operation: BulkOperation) -> bool:
    return can_undo(operation)


@routes.route("/tags/bulk-operations/<int:operation_id>/undo", methods=["POST"])
@role_required("admin", "sales")
def tag_operation_undo(operation_id: int) -> Response:
    session = db_session()
    operation = session.get(BulkOperation, operation_id)
    if operation is None:
        abort(404)
    if operation.undone_at is None and not can_undo(operation):
        abort(403)  # only its author or an admin may undo it
    try:
        result = bulk.undo_bulk_operation(session=session, operation_id=operation_id, user_id=current_user.id)
    except Conflict as exc:
        session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("crm_ui.tag_operations"))
    flash(f"Undid bulk operation #{operation_id}: {result.reverted:,} taggings put back as they were.",
          "success")
    return redirect(url_for("crm_ui.tag_operations"))


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)

"""The tags page: every tag with its usage; create, rename, recolor, describe, merge and delete.

Everyone signed in sees and edits tags; built-in tags (shipped with the product) are changed by
admins only; merging and deleting (which change many records at once) are for admins, and deleting
shows what will be removed before it is confirmed. A person creates at most
CRM_SEGMENTS_TAGS_PER_USER_PER_MINUTE new tags a minute, here and wherever tags are named.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import case, or_, select
from werkzeug.wrappers import Response
from wtforms import StringField, TextAreaField

from crm_segments.kernel.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from crm_segments.kernel.record_ids import parse_id
from crm_segments.models import Tag
from crm_segments.records.validation import validate
from crm_segments.schemas.tags import DEFAULT_COLOR, TagIn, TagPatch
from crm_segments.segments.deletion import InUse
from crm_segments.state import get_state
from crm_segments.tagging import management
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session
from crm_segments.web.ui.common.forms import ConfirmForm
from crm_segments.web.ui.common.profile_sections import ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes

routes = PageRoutes()

SUGGESTIONS = 10


class TagForm(FlaskForm):
    name = StringField("Name")
    color = StringField("Colour", default=DEFAULT_COLOR)
    description = TextAreaField("Description")


class MergeForm(FlaskForm):
    """The CSRF token; the target is a plain select of the other tags (``target_id``)."""


def field_errors(exc: ValidationFailed | Conflict | RateLimited) -> dict[str, str]:
    if isinstance(exc, Conflict):
        return {exc.field: exc.message}
    if isinstance(exc, RateLimited):
        return {"name": exc.message}
    return {e.field: e.message for e in exc.errors}


def tags_per_minute() -> int | None:
    """New tags one person may create per minute (CRM_SEGMENTS_TAGS_PER_USER_PER_MINUTE)."""
    return get_state(current_app).settings.tags_per_user_per_minute


def tags_per_request() -> int:
    """Tag names one request may name (CRM_SEGMENTS_TAGS_PER_REQUEST)."""
    return get_state(current_app).settings.tags_per_request


def _tag_or_404(tag_id: int) -> Tag:
    try:
        return management.get_tag(session=db_session(), tag_id=tag_id)
    except NotFound:
        abort(404)


@routes.route("/tags", methods=["GET", "POST"])
@role_required("admin", "sales")
def tags() -> tuple[str, int] | Response:
    session = db_session()
    form = TagForm()
    errors: dict[str, str] = {}
    status = 200
    if form.validate_on_submit():
        try:
            data = validate(TagIn, {"name": form.name.data or "", "color": form.color.data or DEFAULT_COLOR,
                                    "description": form.description.data or ""})
            tag = management.create_tag(session=session, data=data, user_id=current_user.id,
                                        per_minute=tags_per_minute())
        except (ValidationFailed, Conflict, RateLimited) as exc:
            session.rollback()
            errors, status = field_errors(exc), 429 if isinstance(exc, RateLimited) else 422
        else:
            flash(f"Created tag {tag.name!r}.", "success")
            return redirect(url_for("crm_ui.tags"))
    summaries = management.list_tags(session=session)
    return render_template("crm_segments/tags/list.html", summaries=summaries, form=form,
                           errors=errors), status


@routes.route("/tags/<int:tag_id>", methods=["GET", "POST"])
@role_required("admin", "sales")
def tag_edit(tag_id: int) -> tuple[str, int] | Response:
    session = db_session()
    tag = _tag_or_404(tag_id)
    form = TagForm(obj=tag)
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            data = validate(TagPatch, {"name": form.name.data or "", "color": form.color.data or "",
                                       "description": form.description.data or ""})
            management.update_tag(session=session, tag_id=tag.id, data=data,
                                  by_admin=current_user.role == "admin")
        except Forbidden:
            session.rollback()
            abort(403)
        except (ValidationFailed, Conflict) as exc:
            session.rollback()
            errors = field_errors(exc)
            tag = _tag_or_404(tag_id)
        else:
            flash(f"Saved tag {tag.name!r}.", "success")
            return redirect(url_for("crm_ui.tag_edit", tag_id=tag.id))
    return _edit_page(tag, form, errors, MergeForm())


def _edit_page(tag: Tag, form: TagForm, errors: dict[str, str], merge_form: MergeForm) -> tuple[str, int]:
    session = db_session()
    others = session.scalars(select(Tag).where(Tag.id != tag.id).order_by(Tag.name_key)).all()
    context: dict[str, Any] = {
        "tag": tag, "form": form, "errors": errors, "merge_form": merge_form, "others": others,
        "usage": management.tag_usage(session=session, tag_id=tag.id),
    }
    return render_template("crm_segments/tags/edit.html", **context), 422 if errors else 200


@routes.route("/tags/<int:tag_id>/merge", methods=["POST"])
@role_required("admin")
def tag_merge(tag_id: int) -> tuple[str, int] | Response:
    session = db_session()
    tag = _tag_or_404(tag_id)
    merge_form = MergeForm()
    target_id = request.form.get("target_id", "")
    try:
        if (target := parse_id(target_id)) is None:
            raise ValidationFailed([FieldError("target_id", "choose the tag to merge into")])
        result = management.merge_tags(session=session, source_ids=[tag.id], target_id=target,
                                       user_id=current_user.id)
    except (ValidationFailed, NotFound) as exc:
        session.rollback()
        message = exc.errors[0].message if isinstance(exc, ValidationFailed) else str(exc)
        return _edit_page(_tag_or_404(tag_id), TagForm(obj=tag), {"target_id": message}, merge_form)
    moved = sum(result.moved.values())
    flash(f"Merged {', '.join(result.merged_names)} into {result.target.name!r}: {moved:,} taggings moved, "
          f"{sum(result.already_tagged.values()):,} already had it.", "success")
    return redirect(url_for("crm_ui.tag_edit", tag_id=result.target.id))


@routes.route("/tags/<int:tag_id>/delete", methods=["GET", "POST"])
@role_required("admin")
def tag_delete(tag_id: int) -> tuple[str, int] | Response:
    """The page lists every user of the tag; the admin keeps it or deletes it and pauses the
    workflows that use it. A post that would leave a user behind is refused with the same page."""
    session = db_session()
    tag = _tag_or_404(tag_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        name = tag.name
        try:
            deleted = management.delete_tag(session=session, tag_id=tag.id, user_id=current_user.id,
                                            on_use=request.form.get("on_use", "refuse"))
        except (InUse, ValidationFailed) as exc:
            flash(f"Nothing was deleted: {exc}", "error")
            return _delete_page(tag, form, 409 if isinstance(exc, InUse) else 422)
        paused = f" Paused workflows: {', '.join(w.name for w in deleted.paused)}." if deleted.paused else ""
        flash(f"Deleted tag {name!r}; it was removed from {deleted.removed:,} records.{paused}", "success")
        return redirect(url_for("crm_ui.tags"))
    return _delete_page(tag, form, 200)


def _delete_page(tag: Tag, form: ConfirmForm, status: int) -> tuple[str, int]:
    preview = management.delete_preview(session=db_session(), tag_id=tag.id)
    return render_template("crm_segments/tags/delete.html", preview=preview, form=form), status


@routes.route("/tags/suggest")
@role_required("admin", "sales")
def tag_suggest() -> Response:
    """Type-ahead: tags whose name starts with the text first, then ones that contain it."""
    text = " ".join(request.args.get("q", "").split()).casefold()[:64]
    query = select(Tag).order_by(Tag.name_key).limit(SUGGESTIONS)
    if text:
        escaped = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
        starts = Tag.name_key.like(f"{escaped}%", escape="/")
        query = query.where(or_(starts, Tag.name_key.like(f"%{escaped}%", escape="/")))
        query = query.order_by(None).order_by(case((starts, 0), else_=1), Tag.name_key)
    found = db_session().scalars(query).all()
    return jsonify(tags=[tag_json(t) for t in found])


def tag_json(tag: Tag) -> dict[str, Any]:
    return {"id": tag.id, "name": tag.name, "color": tag.color, "description": tag.description}


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)

"""The message template editor: templates by content type and channel; edit, checked at save time
(nothing is saved when a part fails); preview against a real profile and record; a test send to
yourself; reset a shipped template to its file. Sales people see the templates; only admins change,
preview or test them (each renders template text, see templates/render_pool.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from crm_segments.kernel.errors import FieldError, NotFound, ValidationFailed
from crm_segments.kernel.record_ids import parse_id
from crm_segments.messages.template_test_sends import send_test
from crm_segments.models import Profile
from crm_segments.models.messaging import CHANNELS, CONTENT_TYPES
from crm_segments.models.record_types import record_models
from crm_segments.segments.deletion import InUse
from crm_segments.segments.usages import template_users
from crm_segments.templates import template_preview
from crm_segments.templates.template_store import (
    TemplateSource,
    TemplateState,
    delete_template,
    template_state,
    template_states,
)
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session, reads_only, writing_session
from crm_segments.web.ui.common.profile_sections import ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes
from crm_segments.web.ui.html_preview import with_preview_styles
from crm_segments.web.webhooks import public_base_url
from crm_segments.workflows.template_saving import check_template, reset_template, save_template

routes = PageRoutes()

ACTIONS = ("save", "preview", "test_send", "reset")


@routes.route("/templates")
@role_required("admin", "sales")
def templates() -> str:
    channel = request.args.get("channel", "")
    channel = channel if channel in CHANNELS else ""
    states = [s for s in template_states(db_session()) if not channel or s.source.channel == channel]
    groups = [(ct, [s for s in states if s.source.content_type == ct]) for ct in CONTENT_TYPES]
    return render_template("crm_segments/templates/list.html", groups=groups, channel=channel,
                           channels=CHANNELS, total=len(states))


def _state_or_404(key: str) -> TemplateState:
    try:
        return template_state(db_session(), key)
    except NotFound:
        abort(404)


def _edited(state: TemplateState, form: Any) -> TemplateSource:
    """The template as the form has it (unsaved)."""
    source = state.source
    sms = source.channel == "sms"
    return TemplateSource(source.key, source.channel, source.content_type, source.name,
                          form.get("text_body", source.text_body).replace("\r\n", "\n"),
                          subject=None if sms else form.get("subject", source.subject or "").strip(),
                          html_body=None if sms else (form.get("html_body", "").replace("\r\n", "\n")
                                                      or None))




def _editor(state: TemplateState, *, source: TemplateSource | None = None,
            errors: list[FieldError] | None = None, preview: template_preview.Preview | None = None,
            status: int = 200) -> Response:
    form = request.form if request.method == "POST" else request.args
    body = render_template(
        "crm_segments/templates/edit.html", state=state, source=source or state.source, errors=errors or [],
        preview=preview, record_types=list(record_models()), form=form,
        used_records=template_preview.record_types_used(source or state.source),
    )
    return with_preview_styles(body, status, preview.parts.get("html") if preview is not None else None)


@routes.route("/templates/<path:key>", methods=["GET", "POST"])
@reads_only  # every action renders first, reading; one that then writes takes writing_session()
@role_required("admin", "sales")
def template_edit(key: str) -> tuple[str, int] | Response:
    state = _state_or_404(key)
    if request.method == "GET":
        return _editor(state)
    if current_user.role != "admin":
        abort(403)
    action = request.form.get("action", "")
    if action not in ACTIONS:
        abort(400)
    session = db_session()
    if action == "reset":
        return _reset(state)
    source = _edited(state, request.form)
    if action == "save":
        try:
            check_template(session, key=key, text_body=source.text_body, subject=source.subject,
                           html_body=source.html_body)  # a slow or refused render holds no write lock
            save_template(writing_session(), key=key, text_body=source.text_body, subject=source.subject,
                          html_body=source.html_body, user_id=current_user.id)
        except ValidationFailed as exc:
            db_session().rollback()
            return _editor(state, source=source, errors=exc.errors, status=400)
        flash(f"Saved {key}.", "success")
        return redirect(url_for("crm_ui.template_edit", key=key))
    profile = template_preview.find_profile(session, request.form.get("profile", ""))
    if request.form.get("profile", "").strip() and profile is None:
        return _editor(state, source=source, status=400,
                       errors=[FieldError("profile", "no profile with this id, email or name")])
    record_type = request.form.get("record_type") or None
    record_id = parse_id(request.form.get("record_id"))
    if action == "preview":
        try:
            found = template_preview.preview_template(
                session, source, profile=profile, base_url=public_base_url(current_app),
                record_type=record_type, record_id=record_id)
        except ValidationFailed as exc:
            return _editor(state, source=source, errors=exc.errors, status=400)
        return _editor(state, source=source, preview=found)
    return _test_send(state, source, profile=profile, record_type=record_type, record_id=record_id)


def _test_send(state: TemplateState, source: TemplateSource, *, profile: Any, record_type: str | None,
               record_id: int | None) -> tuple[str, int] | Response:
    base_url = public_base_url(current_app)
    try:
        # Rendered while reading first: a slow or refused render holds no write lock.
        template_preview.preview_template(db_session(), state.source, profile=profile, base_url=base_url,
                                          record_type=record_type, record_id=record_id)
        session = writing_session()
        profile = session.get(Profile, profile.id) if profile is not None else None
        message = send_test(session, state.source, user=current_user, profile=profile, base_url=base_url,
                            to_address=request.form.get("to_address"), record_type=record_type,
                            record_id=record_id)
    except ValidationFailed as exc:
        db_session().rollback()
        return _editor(state, source=source, errors=exc.errors, status=400)
    unsaved = (" It uses the saved version: your unsaved changes are not in it."
               if source != state.source else "")
    flash(f"Test message queued to {message.to_address}; it goes out with the next dispatch.{unsaved}",
          "success")
    return redirect(url_for("crm_ui.message", message_id=message.id))


def _reset(state: TemplateState) -> Response:
    session = writing_session()
    if state.shipped is None:
        flash(f"{state.source.key} is not a shipped template; there is nothing to reset it to.", "error")
    else:
        reset_template(session, state.source.key, user_id=current_user.id)
        flash(f"{state.source.key} is back to its shipped text.", "success")
    return redirect(url_for("crm_ui.template_edit", key=state.source.key))


class DeleteForm(FlaskForm):
    """Only the CSRF token: the page itself is the confirmation."""


@routes.route("/templates/<path:key>/delete", methods=["GET", "POST"])
@role_required("admin")
def template_delete(key: str) -> tuple[str, int] | Response:
    """The page lists every workflow step that sends the template; the admin keeps it or deletes it
    and pauses those workflows. Only templates made here can be deleted (shipped ones are reset)."""
    state = _state_or_404(key)
    if state.origin != "custom":
        abort(404)
    form = DeleteForm()
    if form.validate_on_submit():
        try:
            paused = delete_template(db_session(), key, on_use=request.form.get("on_use", "refuse"),
                                     user_id=current_user.id)
        except (InUse, ValidationFailed) as exc:
            flash(f"Nothing was deleted: {exc}", "error")
            return _delete_page(state, form, 409 if isinstance(exc, InUse) else 422)
        note = f" Paused workflows: {', '.join(w.name for w in paused)}." if paused else ""
        flash(f"Deleted the template {key}.{note}", "success")
        return redirect(url_for("crm_ui.templates"))
    if request.method == "POST":
        abort(400)
    return _delete_page(state, form, 200)


def _delete_page(state: TemplateState, form: DeleteForm, status: int) -> tuple[str, int]:
    uses = template_users(db_session(), state.source.key)
    return render_template("crm_segments/templates/delete.html", state=state, uses=uses, form=form), status


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)

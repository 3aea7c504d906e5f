"""Create and edit profiles, quotes (with lines), jobs, opportunities and support tickets, change a quote's
or a job's status from its page, and give profiles an owner, one by one or many at once.

Every write goes through ``crud`` with the API's schemas, so segments, auto-tags and workflows react in
the same request. With ``CRM_SEGMENTS_RECORDS_READ_ONLY`` (a host CRM owns the records) every page
here answers 403 and the buttons that lead to them are not shown.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from crm_segments.kernel.errors import Conflict, FieldError, NotFound, ValidationFailed
from crm_segments.kernel.record_ids import parse_id
from crm_segments.models import Profile, Quote, User
from crm_segments.models.record_types import by_plural
from crm_segments.records import KINDS, Kind, WriteContext, crud
from crm_segments.records.owners import MAX_PROFILES, assign_owner
from crm_segments.records.validation import validate
from crm_segments.state import get_state
from crm_segments.web.auth import role_required
from crm_segments.web.db import db_session
from crm_segments.web.ui.common.forms import safe_redirect
from crm_segments.web.ui.common.profile_sections import ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes
from crm_segments.web.ui.records.forms import (
    BLANK_LINES,
    FormField,
    errors_by_field,
    form_fields,
    form_input,
    line_rows,
    lines_input,
    shown_value,
    stored_lines,
)

routes = PageRoutes()

F = TypeVar("F", bound=Callable[..., Any])
FORM_KINDS = ("quotes", "jobs", "opportunities", "tickets")  # the record types with forms of their own
RECORD_PATHS = f"<any({', '.join(FORM_KINDS)}):kind>"


def _transitions(kind: str) -> Mapping[str, tuple[str, ...]]:
    """The status changes a record's page offers (new status -> the statuses it may come from), as
    the record type registry declares them."""
    record_type = by_plural(kind)
    return record_type.transitions if record_type is not None else {}


ACTION_LABELS = {"sent": "Mark sent", "accepted": "Mark accepted", "declined": "Mark declined",
                 "completed": "Mark completed"}


def records_read_only() -> bool:
    return bool(get_state(current_app).settings.records_read_only)


@routes.app_template_global("crm_records_writable")
def records_writable() -> bool:
    return not records_read_only()


@routes.app_template_global("crm_record_editable")
def record_editable(kind: str) -> bool:
    """Whether the type has record forms; a registered type is written through the API only."""
    return kind in FORM_KINDS


@routes.app_template_global("crm_user_label")
def user_label(user_id: int | None) -> str:
    user = db_session().get(User, user_id) if user_id is not None else None
    return "nobody" if user is None else (user.name or user.email)


def writable(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if records_read_only():
            abort(403, "Records are read-only here: the host CRM owns them.")
        return view(*args, **kwargs)

    return cast(F, wrapped)


def write_context() -> WriteContext:
    return WriteContext(source="ui", actor=current_user.email, user_id=current_user.id)


def _owner_choices(session: Session) -> list[tuple[str, str]]:
    users = session.scalars(select(User).where(User.is_active.is_(True)).order_by(User.name, User.email))
    return [("", "Nobody")] + [(str(u.id), f"{u.name} ({u.email})" if u.name else u.email) for u in users]


def _fields(kind: Kind, session: Session, profile_id: int | None) -> list[FormField]:
    choices: dict[str, Sequence[tuple[str, str]]] = {}
    if kind.name == "profiles":
        choices["owner_id"] = _owner_choices(session)
    if kind.name == "jobs" and profile_id is not None:
        quotes = session.scalars(select(Quote).where(Quote.profile_id == profile_id).order_by(Quote.id))
        choices["quote_id"] = [("", "None")] + [(str(q.id), f"{q.number} ({q.status})") for q in quotes]
    return form_fields(kind.create_schema, choices=choices,
                       labels={"owner_id": "Owner", "quote_id": "From quote", "external_id": "External id"})


def _new_external_id(kind: Kind) -> str:
    # A record made here has no key in another system; an admin may still type one.
    return f"ui-{kind.label}-{secrets.token_hex(6)}"


def _page_of(kind: Kind, row: Any) -> str:
    if kind.name == "profiles":
        return url_for("crm_ui.profile", profile_id=row.id)
    if kind.name == "tickets":
        return url_for("crm_ui.profile", profile_id=row.profile_id, _anchor="tickets")
    return url_for("crm_ui.record_page", kind=kind.name, record_id=row.id)


def _render(kind: Kind, *, fields: list[FormField], values: dict[str, str], profile: Profile | None,
            record: Any, lines: list[dict[str, str]] | None, errors: Sequence[FieldError] = (),
            status: int = 200) -> tuple[str, int]:
    if lines is not None:
        lines = lines + [{} for _ in range(BLANK_LINES)]
    action = request.path
    cancel = (_page_of(kind, record) if record is not None
              else url_for("crm_ui.profile", profile_id=profile.id) if profile is not None
              else url_for("crm_ui.profiles"))
    return render_template("crm_segments/records/form.html", kind=kind, fields=fields, values=values,
                           profile=profile, record=record, lines=lines, errors=errors,
                           field_errors=errors_by_field(errors), action=action, cancel=cancel), status


def _edit(kind: Kind, *, record: Any, profile: Profile | None) -> Any:
    session = db_session()
    profile_id = profile.id if profile is not None else None
    fields = _fields(kind, session, profile_id)
    has_lines = kind.children is not None
    if request.method == "GET":
        if record is None:
            values = {"external_id": _new_external_id(kind)}
            if kind.name == "profiles":
                values["owner_id"] = str(current_user.id)  # who creates a customer looks after it
            defaults = {name: info.default for name, info in kind.create_schema.model_fields.items()}
            values |= {f.name: shown_value(f, defaults.get(f.name)) for f in fields if f.name not in values}
        else:
            values = {f.name: shown_value(f, getattr(record, f.name, None)) for f in fields}
        shown = (stored_lines(session, record) if record is not None else []) if has_lines else None
        return _render(kind, fields=fields, values=values, profile=profile, record=record, lines=shown)
    form = request.form
    rows = line_rows(form) if has_lines else None
    try:
        data = form_input(fields, form, existing=record)
        if rows is not None:
            data["lines"] = lines_input(rows)
        if record is None:
            if profile_id is not None:
                data["profile_id"] = profile_id
            row = crud.create(kind, session=session, data=validate(kind.create_schema, data),
                              ctx=write_context())
        else:
            row = crud.update(kind, session=session, id=record.id, data=validate(kind.update_schema, data),
                              ctx=write_context())
    except (ValidationFailed, Conflict) as exc:
        session.rollback()
        errors = exc.errors if isinstance(exc, ValidationFailed) else [FieldError(exc.field, exc.message)]
        values = {f.name: form.get(f.name, "") for f in fields}
        if record is not None:
            record = session.get(kind.model, record.id)
        if profile is not None:
            profile = session.get(Profile, profile.id)
        return _render(kind, fields=fields, values=values, profile=profile, record=record, lines=rows,
                       errors=errors, status=400)
    flash(f"{kind.label.capitalize()} {'saved' if record is not None else 'created'}.", "info")
    return redirect(_page_of(kind, row))


@routes.route("/profiles/new", methods=["GET", "POST"])
@role_required("admin", "sales")
@writable
def profile_new() -> Any:
    return _edit(KINDS["profiles"], record=None, profile=None)


@routes.route("/profiles/<int:profile_id>/edit", methods=["GET", "POST"])
@role_required("admin", "sales")
@writable
def profile_edit(profile_id: int) -> Any:
    return _edit(KINDS["profiles"], record=_get(KINDS["profiles"], profile_id), profile=None)


@routes.route(f"/profiles/<int:profile_id>/{RECORD_PATHS}/new", methods=["GET", "POST"])
@role_required("admin", "sales")
@writable
def record_new(profile_id: int, kind: str) -> Any:
    profile = db_session().get(Profile, profile_id)
    if profile is None:
        abort(404)
    return _edit(KINDS[kind], record=None, profile=profile)


@routes.route(f"/{RECORD_PATHS}/<int:record_id>/edit", methods=["GET", "POST"])
@role_required("admin", "sales")
@writable
def record_edit(kind: str, record_id: int) -> Any:
    record = _get(KINDS[kind], record_id)
    return _edit(KINDS[kind], record=record, profile=db_session().get(Profile, record.profile_id))


@routes.route(f"/{RECORD_PATHS}/<int:record_id>/status", methods=["POST"])
@role_required("admin", "sales")
@writable
def record_status(kind: str, record_id: int) -> Response:
    session = db_session()
    record = _get(KINDS[kind], record_id)
    status = request.form.get("status", "")
    back = redirect(url_for("crm_ui.record_page", kind=kind, record_id=record_id))
    if record.status not in _transitions(kind).get(status, ()):
        flash(f"A {record.status} {KINDS[kind].label} cannot become {status or 'that'}; nothing changed.",
              "error")
        return back
    try:
        change = validate(KINDS[kind].update_schema, {"status": status})
        crud.update(KINDS[kind], session=session, id=record_id, data=change, ctx=write_context())
    except ValidationFailed as exc:
        session.rollback()
        flash("Nothing was changed: " + "; ".join(e.message for e in exc.errors), "error")
        return back
    flash(f"{KINDS[kind].label.capitalize()} marked {status}.", "info")
    return back


@routes.app_template_global("crm_status_actions")
def status_actions(kind: str, status: str) -> list[tuple[str, str]]:
    """The (status, button label) changes a record's page offers from ``status``."""
    return [(new, ACTION_LABELS.get(new, f"Mark {new}")) for new, sources in _transitions(kind).items()
            if status in sources]


@routes.route("/profiles/owner", methods=["POST"])
@role_required("admin", "sales")
@writable
def profiles_owner() -> Response:
    """Give the chosen profiles an owner (or none), all or nothing."""
    session = db_session()
    ids = [chosen for value in request.form.getlist("profile_id")
           if (chosen := parse_id(value)) is not None][:MAX_PROFILES + 1]
    owner = request.form.get("owner_id", "").strip()
    back = safe_redirect(request.form.get("next"), url_for("crm_ui.profiles"))
    if not ids:
        flash("Choose at least one profile.", "error")
        return back
    try:
        owner_id = parse_id(owner)
        if owner and owner_id is None:  # nobody is chosen by leaving it empty, not by any other text
            raise ValidationFailed([FieldError("owner_id", "choose an owner from the list")])
        changed = assign_owner(session, ids, owner_id, ctx=write_context())
    except ValidationFailed as exc:
        session.rollback()
        flash("Nothing was changed: " + "; ".join(sorted({e.message for e in exc.errors})), "error")
        return back
    flash(f"Owner set on {changed} profile{'s' if changed != 1 else ''}.", "info")
    return back


def _get(kind: Kind, id: int) -> Any:
    try:
        return crud.get(kind, session=db_session(), id=id)
    except NotFound:
        abort(404)


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)

"""Accounts in the UI: your own account (password, API keys) and, for admins, every user's
(deactivate, reset the password, end sessions, revoke API keys).

A new password ends every other session of that person (their session version rises); the browser
that changed its own password is signed in again with the new version. A password shown after a
reset is rendered in the answer to the POST, never put in the (signed, not encrypted) session cookie.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import PasswordField, SubmitField
from wtforms.validators import DataRequired, EqualTo

from crm_segments.accounts import management as accounts
from crm_segments.accounts.password_policy import MIN_LENGTH
from crm_segments.kernel.errors import Conflict, ValidationFailed
from crm_segments.models import ApiKey, User
from crm_segments.web.auth import role_required, wait_phrase
from crm_segments.web.db import db_session
from crm_segments.web.signin_limits import failed_attempt, refused_with
from crm_segments.web.ui.common.profile_sections import ProfileSections
from crm_segments.web.ui.common.routes import PageRoutes

routes = PageRoutes()

PASSWORD_HINT = f"At least {MIN_LENGTH} characters; not a common password."


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField("New password", validators=[DataRequired()])
    confirm = PasswordField("New password again",
                            validators=[DataRequired(), EqualTo("new_password", "does not match")])


class ResetPasswordForm(FlaskForm):
    new_password = PasswordField("New password")
    confirm = PasswordField("New password again", validators=[EqualTo("new_password", "does not match")])
    generate = SubmitField("Generate one")


class ActionForm(FlaskForm):
    """Only the CSRF token: the button is the action."""


def _page(form: ChangePasswordForm | None = None, refusal: str | None = None) -> str:
    return render_template("crm_segments/account/page.html", form=form or ChangePasswordForm(),
                           keys=accounts.api_keys(session=db_session(), user=current_user),
                           action_form=ActionForm(), refusal=refusal, password_hint=PASSWORD_HINT)


@routes.route("/account")
@role_required("admin", "sales")
def account() -> str:
    return _page()


@routes.route("/account/password", methods=["POST"])
@role_required("admin", "sales")
def account_password() -> str | Response | tuple[str, int]:
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return _page(form), 422
    user: User = current_user
    try:
        accounts.change_own_password(session=db_session(), user=user,
                                     current=form.current_password.data or "",
                                     new=form.new_password.data or "")
    except ValidationFailed as exc:
        if any(error.field == "current_password" for error in exc.errors):
            failed_attempt()  # guessing the password through this form counts like a failed sign-in
        for error in exc.errors:
            getattr(form, error.field).errors.append(error.message)
        return _page(form), 422
    login_user(user)  # this browser stays signed in, with the new session version
    flash("Password changed. Your other sessions have ended.", "success")
    return redirect(url_for("crm_ui.account"), code=303)


@refused_with("crm_ui.account_password")
def too_many_password_checks(retry_after: int) -> Response:
    refusal = f"Too many wrong current passwords. Try again in {wait_phrase(retry_after)}."
    return make_response(_page(refusal=refusal))


def _own_key(key_id: int) -> ApiKey:
    key = db_session().get(ApiKey, key_id)
    if key is None or key.user_id != current_user.id:
        abort(404)
    return key


@routes.route("/account/api-keys/<int:key_id>/revoke", methods=["POST"])
@role_required("admin", "sales")
def account_key_revoke(key_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    key = _own_key(key_id)
    accounts.revoke_api_key(session=db_session(), key=key)
    flash(f"API key {key.prefix} revoked: requests with it are refused from now on.", "success")
    return redirect(url_for("crm_ui.account"), code=303)


@routes.route("/users")
@role_required("admin")
def users() -> str:
    session = db_session()
    people = accounts.list_users(session=session)
    keys_in_use = {user.id: sum(1 for key in user.api_keys if key.revoked_at is None) for user in people}
    return render_template("crm_segments/users/list.html", users=people, keys_in_use=keys_in_use)


def _user(user_id: int) -> User:
    user = db_session().get(User, user_id)
    if user is None:
        abort(404)
    return user


def _user_page(user: User, *, form: ResetPasswordForm | None = None, new_password: str | None = None,
               status: int = 200) -> tuple[str, int]:
    page = render_template("crm_segments/users/page.html", user=user, form=form or ResetPasswordForm(),
                           keys=accounts.api_keys(session=db_session(), user=user),
                           action_form=ActionForm(), new_password=new_password,
                           password_hint=PASSWORD_HINT, is_self=user.id == current_user.id)
    return page, status


@routes.route("/users/<int:user_id>")
@role_required("admin")
def user(user_id: int) -> tuple[str, int]:
    return _user_page(_user(user_id))


@routes.route("/users/<int:user_id>/active", methods=["POST"])
@role_required("admin")
def user_active(user_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    user = _user(user_id)
    active = request.form.get("active") == "1"
    if user.id == current_user.id:
        flash("You cannot deactivate yourself; another admin can.", "error")
        return redirect(url_for("crm_ui.user", user_id=user.id), code=303)
    try:
        accounts.set_active(session=db_session(), user=user, active=active)
    except Conflict as exc:
        db_session().rollback()
        flash(f"Not changed: {exc.message}.", "error")
        return redirect(url_for("crm_ui.user", user_id=user.id), code=303)
    flash(f"{user.email} can sign in again." if active else
          f"{user.email} is deactivated: signed out everywhere, API keys refused.", "success")
    return redirect(url_for("crm_ui.user", user_id=user.id), code=303)


@routes.route("/users/<int:user_id>/password", methods=["POST"])
@role_required("admin")
def user_password(user_id: int) -> tuple[str, int] | Response:
    user = _user(user_id)
    if user.id == current_user.id:
        return redirect(url_for("crm_ui.account"), code=303)  # your own: with the current password
    form = ResetPasswordForm()
    if not form.validate_on_submit():
        return _user_page(user, form=form, status=422)
    password = accounts.generate_password() if form.generate.data else form.new_password.data or ""
    try:
        accounts.set_password(session=db_session(), user=user, password=password, field="new_password")
    except ValidationFailed as exc:
        for error in exc.errors:
            form.new_password.errors.append(error.message)
        return _user_page(user, form=form, status=422)
    # Shown once in this answer, not flashed: the flash would sit in the session cookie.
    return _user_page(user, new_password=password if form.generate.data else None)


@routes.route("/users/<int:user_id>/end-sessions", methods=["POST"])
@role_required("admin")
def user_end_sessions(user_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    user = _user(user_id)
    accounts.end_sessions(session=db_session(), user=user)
    if user.id == current_user.id:
        login_user(user)  # everywhere else
    flash(f"Every session of {user.email} has ended.", "success")
    return redirect(url_for("crm_ui.user", user_id=user.id), code=303)


@routes.route("/users/<int:user_id>/api-keys/<int:key_id>/revoke", methods=["POST"])
@role_required("admin")
def user_key_revoke(user_id: int, key_id: int) -> Response:
    if not ActionForm().validate_on_submit():
        abort(400)
    key = db_session().get(ApiKey, key_id)
    if key is None or key.user_id != user_id:
        abort(404)
    accounts.revoke_api_key(session=db_session(), key=key)
    flash(f"API key {key.prefix} revoked: requests with it are refused from now on.", "success")
    return redirect(url_for("crm_ui.user", user_id=user_id), code=303)


def register(bp: Blueprint, sections: ProfileSections) -> None:
    routes.add_to(bp)

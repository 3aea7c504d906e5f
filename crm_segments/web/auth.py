"""Sign-in for the web UI (Flask-Login) and role checks shared by UI views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from crm_segments.accounts import management as accounts
from crm_segments.accounts import users
from crm_segments.kernel.record_ids import parse_id
from crm_segments.models import User
from crm_segments.web.db import db_session, reads_only, writing_session
from crm_segments.web.signin_limits import failed_attempt, refused_with

bp = Blueprint("crm_auth", __name__, template_folder="templates")
F = TypeVar("F", bound=Callable[..., Any])


def init_login(app: Flask) -> None:
    # A host app that already has a LoginManager keeps it; it must then load crm_segments users.
    if getattr(app, "login_manager", None) is not None:
        return
    manager = LoginManager()
    manager.login_view = "crm_auth.login"
    manager.login_message_category = "info"
    manager.user_loader(load_user)
    manager.init_app(app)


def load_user(token: str) -> User | None:
    """Flask-Login's user loader for the token ``User.get_id`` makes ("<id>:<session version>"); a host
    app with its own LoginManager calls this for crm_segments users. A token made before the user's
    sessions were ended (sign-out, new password, deactivation) loads nobody."""
    user_id, _, version = token.partition(":")
    if (chosen := parse_id(user_id)) is None or not (version.isascii() and version.isdigit()):
        return None
    user = db_session().get(User, chosen)
    if user is None or not user.is_active or user.session_version != int(version):
        return None
    return user


def role_required(*roles: str) -> Callable[[F], F]:
    """Only signed-in users with one of ``roles`` may use the view; others get 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


def safe_next(target: str | None) -> str:
    # Only same-site relative paths: an absolute "next" would be an open redirect. Browsers read
    # "/\evil.example" as "//evil.example" and drop tabs and newlines, so those are refused too.
    if (target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc
            and "\\" not in target and not any(ord(c) < 32 or ord(c) == 127 for c in target)):
        return target
    return url_for("crm_ui.home")


@bp.route("/login", methods=["GET", "POST"])
@reads_only  # checking a password takes a while: on SQLite, not while holding the write lock
def login() -> str | Response:
    form = LoginForm()
    if form.validate_on_submit():
        password = form.password.data or ""
        user = users.authenticate(session=db_session(), email=form.email.data or "", password=password)
        if user is not None:
            new_hash = users.rehashed_password(user, password)
            if new_hash is not None:
                users.replace_password_hash(session=writing_session(), user=user, new_hash=new_hash)
            login_user(user)
            return redirect(safe_next(request.args.get("next")))
        failed_attempt()
        flash("Wrong email or password.", "error")
    return render_template("crm_segments/login.html", form=form)


@refused_with("crm_auth.login")
def too_many_sign_ins(retry_after: int) -> Response:
    message = (f"Too many failed sign-ins for this account or from this address. Try again in "
               f"{wait_phrase(retry_after)}.")
    return make_response(render_template("crm_segments/login.html", form=LoginForm(), refusal=message))


def wait_phrase(seconds: int) -> str:
    minutes = -(-seconds // 60)
    return f"{seconds} seconds" if seconds < 120 else f"{minutes} minutes"


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    if current_user.is_authenticated:
        # A copy of the session cookie (another browser, a stolen one) stops working too.
        accounts.end_sessions(session=db_session(), user=current_user)
    logout_user()
    return redirect(url_for("crm_auth.login"))

"""Sign-in for the web UI (Flask-Login) and role checks shared by UI views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from crm_segments.models import User
from crm_segments.services import users
from crm_segments.web.db import db_session

bp = Blueprint("crm_auth", __name__, template_folder="templates")
F = TypeVar("F", bound=Callable[..., Any])


def init_login(app: Flask) -> None:
    # A host app that already has a LoginManager keeps it; it must then load crm_segments users.
    if getattr(app, "login_manager", None) is not None:
        return
    manager = LoginManager()
    manager.login_view = "crm_auth.login"
    manager.login_message_category = "info"
    manager.user_loader(_load_user)
    manager.init_app(app)


def _load_user(user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    user = db_session().get(User, int(user_id))
    return user if user is not None and user.is_active else None


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
    return url_for("crm_ui.profiles")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    form = LoginForm()
    if form.validate_on_submit():
        user = users.authenticate(session=db_session(), email=form.email.data or "",
                                  password=form.password.data or "")
        if user is not None:
            login_user(user)
            return redirect(safe_next(request.args.get("next")))
        flash("Wrong email or password.", "error")
    return render_template("crm_segments/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    logout_user()
    return redirect(url_for("crm_auth.login"))

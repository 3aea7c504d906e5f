"""Accounts: passwords, deactivation, ending sessions and revoking API keys.

Every change that should end a person's sessions raises their ``session_version``: the sign-in token
in each session cookie carries the version it was made with (``User.get_id``), so older cookies stop
signing anybody in.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crm_segments.accounts import password_policy
from crm_segments.accounts.users import find_user_by_email
from crm_segments.db import utcnow
from crm_segments.kernel.errors import Conflict, FieldError, NotFound, ValidationFailed
from crm_segments.models import ApiKey, User


def check_password_policy(password: str, *, email: str = "", field: str = "password") -> None:
    if problems := password_policy.problems(password, email=email):
        raise ValidationFailed([FieldError(field, problem) for problem in problems])


def user_by_email(*, session: Session, email: str) -> User:
    user = find_user_by_email(session=session, email=email)
    if user is None:
        raise NotFound(f"email: no user with email {email}")
    return user


def end_sessions(*, session: Session, user: User) -> None:
    """Sign the person out everywhere: every session made before this one stops working."""
    session.execute(update(User).where(User.id == user.id)
                    .values(session_version=User.session_version + 1))
    session.refresh(user, ["session_version"])


def set_password(*, session: Session, user: User, password: str, field: str = "password") -> None:
    """A new password (checked against the policy); the person's other sessions end."""
    check_password_policy(password, email=user.email, field=field)
    user.set_password(password)
    session.flush()
    end_sessions(session=session, user=user)


def change_own_password(*, session: Session, user: User, current: str, new: str) -> None:
    if not user.check_password(current):
        raise ValidationFailed([FieldError("current_password", "is not your password")])
    if new == current:
        raise ValidationFailed([FieldError("new_password", "must differ from the current one")])
    set_password(session=session, user=user, password=new, field="new_password")


def generate_password() -> str:
    """A random password for a reset: 24 characters, about 144 bits."""
    return secrets.token_urlsafe(18)


def set_active(*, session: Session, user: User, active: bool) -> None:
    """Deactivate (no sign-in, no API key works, every session ends) or reactivate a person.
    The last active admin stays: someone must be able to reactivate the others."""
    if user.is_active == active:
        return
    if not active and user.role == "admin" and _active_admins(session) <= 1:
        raise Conflict("is_active", "this is the only active admin; make another admin first")
    user.is_active = active
    session.flush()
    if not active:
        end_sessions(session=session, user=user)


def _active_admins(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)
                          .where(User.role == "admin", User.is_active.is_(True))) or 0


def list_users(*, session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.email)).all()


def api_keys(*, session: Session, user: User | None = None) -> Sequence[ApiKey]:
    """Keys, newest first (of one person when ``user`` is given), revoked ones included."""
    query = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    if user is not None:
        query = query.where(ApiKey.user_id == user.id)
    return session.scalars(query).all()


def find_api_key(*, session: Session, prefix: str) -> ApiKey:
    """A key by its prefix (``crm_...``, the part before the dot, shown in lists); a whole key works too."""
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix.strip().partition(".")[0]))
    if key is None:
        raise NotFound(f"prefix: no API key {prefix.strip().partition('.')[0]}")
    return key


def revoke_api_key(*, session: Session, key: ApiKey) -> bool:
    """Revoke the key: requests with it are refused from now on. False if it was revoked already."""
    if key.revoked_at is not None:
        return False
    key.revoked_at = utcnow()
    session.flush()
    return True

"""Users and API keys."""

from __future__ import annotations

import datetime as dt
import hmac

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm_segments import email_addresses, passwords
from crm_segments.accounts import password_policy
from crm_segments.kernel.errors import Conflict, FieldError, NotFound, ValidationFailed
from crm_segments.models import ApiKey, User
from crm_segments.models.users import ROLES


def create_user(*, session: Session, email: str, password: str, role: str, name: str = "") -> User:
    errors = []
    try:
        email = email_addresses.normalize(email).lower()
    except email_addresses.AddressRefused as exc:
        errors.append(FieldError("email", str(exc)))
    if role not in ROLES:
        errors.append(FieldError("role", f"must be one of {', '.join(ROLES)}"))
    errors += [FieldError("password", problem)
               for problem in password_policy.problems(password, email=email)]
    if errors:
        raise ValidationFailed(errors)
    if find_user_by_email(session=session, email=email) is not None:
        raise Conflict("email", f"a user with email {email} already exists")
    user = User(email=email, role=role, name=name)
    user.set_password(password)
    session.add(user)
    session.flush()
    return user


def find_user_by_email(*, session: Session, email: str) -> User | None:
    try:
        key = email_addresses.lookup_key(email.strip())  # as stored: an IDN domain in punycode
    except email_addresses.AddressRefused:
        key = email.strip()
    return session.scalar(select(User).where(User.email == key.lower()))


def authenticate(*, session: Session, email: str, password: str) -> User | None:
    user = find_user_by_email(session=session, email=email)
    if user is None or not user.is_active:
        passwords.verify_nobody(password)
        return None
    if not user.check_password(password):
        return None
    return user


def rehashed_password(user: User, password: str) -> str | None:
    """A new hash of the password ``user`` just signed in with, when the stored one is out of date."""
    return passwords.hash_password(password) if passwords.needs_rehash(user.password_hash) else None


def replace_password_hash(*, session: Session, user: User, new_hash: str) -> bool:
    """Store ``new_hash`` unless the password changed since ``user`` was read; True if stored."""
    stored = session.execute(update(User).where(User.id == user.id, User.password_hash == user.password_hash)
                             .values(password_hash=new_hash).execution_options(synchronize_session=False))
    return bool(stored.rowcount)  # type: ignore[attr-defined]


def create_api_key(*, session: Session, email: str, name: str = "") -> tuple[ApiKey, str]:
    """Return the stored key row and the secret, which is shown once and never stored."""
    user = find_user_by_email(session=session, email=email)
    if user is None:
        raise NotFound(f"email: no user with email {email}")
    prefix, secret = ApiKey.new_secret()
    key = ApiKey(user=user, name=name, prefix=prefix, key_hash=ApiKey.digest(secret))
    session.add(key)
    session.flush()
    return key, secret


# A key's last use is written at most this often, so reading through the API rarely writes.
KEY_USE_RESOLUTION = dt.timedelta(minutes=1)


def api_key_for(*, session: Session, secret: str) -> ApiKey | None:
    """The active key with this secret whose user is active, or None."""
    prefix, _, _ = secret.partition(".")
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.key_hash, ApiKey.digest(secret)):
        return None
    if not key.user.is_active:
        return None
    return key


def key_use_is_stale(key: ApiKey, *, now: dt.datetime) -> bool:
    return key.last_used_at is None or key.last_used_at <= now - KEY_USE_RESOLUTION


def record_key_use(*, session: Session, key_id: int, now: dt.datetime) -> None:
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))

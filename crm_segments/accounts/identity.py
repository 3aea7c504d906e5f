"""A host app's own sign-in: its adapter says who is signed in and their role, the plugin keeps a user.

A host with its own users and login sets ``CRM_SEGMENTS_IDENTITY`` to a callable (or a
``"module:function"`` string) that takes the host's signed-in user (Flask-Login's ``current_user`` of
the host, possibly anonymous) and returns an :class:`Identity`, or None for nobody. The plugin keeps a
``crm_users`` row per email (what its audit columns name), created on first sight with no usable
password and given the role and name the adapter reports each time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments import email_addresses
from crm_segments.config import ConfigError
from crm_segments.models import User
from crm_segments.models.users import ROLES

# No password hash matches this: a user known through the host's sign-in cannot sign in on its own.
NO_PASSWORD = "!"


@dataclass(frozen=True)
class Identity:
    email: str
    role: str  # "admin" or "sales"
    name: str = ""


IdentityAdapter = Callable[[Any], Identity | None]


def identity_adapter(value: Any) -> IdentityAdapter | None:
    """CRM_SEGMENTS_IDENTITY: None, a callable, or "module:function" naming one."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        module_name, _, attribute = value.partition(":")
        try:
            value = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigError(f"CRM_SEGMENTS_IDENTITY: cannot import {value!r} ({exc})") from None
    if not callable(value):
        raise ConfigError(f"CRM_SEGMENTS_IDENTITY: {value!r} is not callable nor a 'module:function'")
    adapter: IdentityAdapter = value
    return adapter


def user_for(identity: Identity, *, reading: Session, writing: Callable[[], Session]) -> User | None:
    """The plugin's user for ``identity``, made or brought up to date (through ``writing()``, only when
    something changes); None when it was deactivated here (crm-segments deactivate-user)."""
    if identity.role not in ROLES:
        raise ValueError(f"identity role {identity.role!r} is not one of {', '.join(ROLES)}")
    email = email_addresses.normalize(identity.email).lower()
    user = reading.scalar(select(User).where(User.email == email))
    if user is not None and not user.is_active:
        return None
    if user is not None and user.role == identity.role and (not identity.name or user.name == identity.name):
        return user
    session = writing()
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email, role=identity.role, name=identity.name, password_hash=NO_PASSWORD)
        session.add(user)
    else:
        user.role = identity.role
        user.name = identity.name or user.name
    session.flush()
    return user

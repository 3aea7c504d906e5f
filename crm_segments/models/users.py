"""People who use the product, and their API keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_segments import passwords
from crm_segments.db import Base, UTCDateTime

from ._columns import choice, created_at_column

ROLES = ("admin", "sales")


class User(Base):
    __tablename__ = "crm_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(choice(*ROLES, name="user_role"))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Part of every session's sign-in token: raising it (sign-out, a new password, deactivation)
    # ends every session signed in before.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[dt.datetime] = created_at_column()

    api_keys: Mapped[list[ApiKey]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    def set_password(self, password: str) -> None:
        self.password_hash = passwords.hash_password(password)

    def check_password(self, password: str) -> bool:
        return passwords.verify_password(self.password_hash, password)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    # Flask-Login protocol, kept here so the model needs no Flask import.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """Flask-Login's token in the session cookie: the id and the session version, so a cookie
        saved before a sign-out or a password change no longer signs anybody in."""
        return f"{self.id}:{self.session_version}"


class ApiKey(Base):
    """An API key: only a SHA-256 of the secret is stored; the prefix finds the row quickly."""

    __tablename__ = "crm_api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("crm_users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = created_at_column()
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="api_keys")

    @staticmethod
    def new_secret() -> tuple[str, str]:
        """Return (prefix, full key). Keys are 256-bit random, so a plain SHA-256 is a safe digest."""
        prefix = "crm_" + secrets.token_hex(6)
        return prefix, f"{prefix}.{secrets.token_urlsafe(32)}"

    @staticmethod
    def digest(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

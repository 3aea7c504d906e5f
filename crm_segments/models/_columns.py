"""Column helpers shared by the model modules."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Enum, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_segments.db import UTCDateTime, utcnow


def choice(*values: str, name: str) -> Enum:
    """A string column limited to ``values`` by a CHECK constraint (portable across backends)."""
    return Enum(
        *values,
        name=name,
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        length=max(len(v) for v in values),
    )


def created_at_column() -> Mapped[dt.datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, nullable=False)


def updated_at_column() -> Mapped[dt.datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)


def external_id_column() -> Mapped[str]:
    """The host CRM's key for a row; unique so the API can upsert by it."""
    return mapped_column(String(64), unique=True, nullable=False)

"""What the generic record services need to know about one type of record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session
from sqlalchemy.orm.interfaces import LoaderOption

from crm_segments.db import utcnow

SOURCES = ("api", "import", "ui")


@dataclass(frozen=True)
class WriteContext:
    """Where a write comes from and who makes it (recorded with consent changes), and its time."""

    source: str = "api"
    now: dt.datetime = field(default_factory=utcnow)
    actor: str = ""               # who, as the consent history shows it (a user's email, an API key)
    user_id: int | None = None


@dataclass(frozen=True)
class Reference:
    """A related row, named in the input by id (``column``) or by its natural key (``key_field``)."""

    column: str          # e.g. "profile_id", the column written
    key_field: str       # e.g. "profile_external_id", accepted in the input instead
    target: type[Any]    # e.g. Profile
    target_key: str      # the target's column matched by key_field, e.g. "external_id"
    label: str           # e.g. "profile", for messages
    required: bool = False


@dataclass(frozen=True)
class Children:
    """Rows owned by a record (a quote's lines) given as a list in the record's input."""

    field: str           # the input field and the relationship, e.g. "lines"
    model: type[Any]
    references: tuple[Reference, ...] = ()


# Fills in derived values (totals, consent times, status times) before a row is written.
Derive = Callable[[dict[str, Any], Any, WriteContext], None]
# Audit rows for a batch of writes (consent history): called with the session, the pending items and
# the context before the rows change, so it can read their old values; what it returns is called with
# the written rows (in the same order) once they have ids.
Audit = Callable[[Session, Sequence[Any], WriteContext], Callable[[Sequence[Any]], None]]


@dataclass(frozen=True)
class Kind:
    name: str                            # plural, as in URLs and import kinds: "quotes"
    label: str                           # singular, for messages: "quote"
    model: type[Any]
    create_schema: type[BaseModel]
    update_schema: type[BaseModel]
    out_schema: type[BaseModel]
    filter_schema: type[BaseModel]
    unique: tuple[str, ...] = ("external_id",)
    references: tuple[Reference, ...] = ()
    children: Children | None = None
    owner: str | None = "profile_id"     # attribute holding the profile a row belongs to
    derive: Derive | None = None
    audit: Audit | None = None
    load: tuple[LoaderOption, ...] = ()  # eager loads for what out_schema reads

    def profile_of(self, row: Any) -> int | None:
        return getattr(row, self.owner) if self.owner and row is not None else None

"""The record types a profile owns (quotes, jobs, opportunities, tickets) and what every domain needs
to know about each: its names, its model, its tagging and suppression models, its status, amount and
date columns, the profile that owns it and the fields segment rules may test.

Lists, tags, segment rules, workflow triggers, templates, the UI and the API read this registry when
they run (the API when an app is made), so a type registered later (``register``) is seen by all of
them. Adding a record type means its model, its tagging tables, its schemas, a migration and one
``register`` call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from .profiles import Profile
from .records import (
    JOB_STATUSES,
    OPPORTUNITY_STAGES,
    QUOTE_STATUSES,
    TICKET_PRIORITIES,
    TICKET_STATUSES,
    Job,
    Opportunity,
    Quote,
    SupportTicket,
)
from .tags import (
    JobTag,
    JobTagSuppression,
    OpportunityTag,
    OpportunityTagSuppression,
    ProfileTag,
    ProfileTagSuppression,
    QuoteTag,
    QuoteTagSuppression,
)

RuleFieldType = Literal["text", "number", "money", "date", "datetime", "boolean", "enum"]


@dataclass(frozen=True)
class RuleField:
    """A column segment rules may test: its name in rules, label, type and (for enums) choices."""

    name: str
    label: str
    type: RuleFieldType = "text"
    choices: tuple[str, ...] = ()
    column: str = ""  # the model's attribute; the name when empty

    @property
    def attribute(self) -> str:
        return self.column or self.name


@dataclass(frozen=True)
class RecordSchemas:
    """The pydantic models a record type is written and read through by the API and the record forms."""

    create: type[Any]   # a new record (POST, an upsert that creates)
    update: type[Any]   # the fields to change (PATCH, an upsert that changes), all optional
    out: type[Any]      # what the API returns, read from the row


@dataclass(frozen=True)
class RecordType:
    name: str                 # singular key: tag entity type, workflow record type, template name
    plural: str               # in URLs, rule sources and bulk summaries: "quotes"
    title: str                # heading: "Quotes"
    noun: str                 # in sentences: "quote", "support ticket"
    model: type[Any]
    tag_model: type[Any] | None = None          # None: the type carries no tags
    suppression_model: type[Any] | None = None
    owner: str = "profile_id"                   # the column naming the profile a row belongs to
    label: str | None = None                    # the column naming a record: number, title, name
    label_heading: str = "Name"
    status: str | None = "status"               # the status (or stage) column
    statuses: tuple[str, ...] = ()
    # New status -> the statuses a person may change it from in the UI.
    transitions: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    amount: str | None = None
    amount_heading: str = "Amount"
    date: str = "created_at"                    # the list's main date (filtered by date_from/date_to)
    date_heading: str = "Created"
    dates: tuple[tuple[str, str], ...] = ()     # (column, heading) shown as list columns
    trigger_dates: tuple[str, ...] = ()         # the dates a workflow date trigger can watch
    rule_fields: tuple[RuleField, ...] = ()     # what segment rules may test (created/updated added)
    rule_date: str = "created_at"               # default date of ``within`` windows in rules
    listed: bool = True                         # has a records list and page in the UI and API
    # The date ending an index that leads with the status: an IN over every status turns a range
    # on that date into a few index range scans (PostgreSQL 15 has no skip scan).
    status_indexed_date: str | None = None
    # Its input and output models: with them the API serves /<plural> (list, create, get, change,
    # delete, upsert). The built-in types have richer ones of their own (crm_segments.records.KINDS).
    schemas: RecordSchemas | None = None

    @property
    def taggable(self) -> bool:
        return self.tag_model is not None

    def column(self, name: str) -> Any:
        return getattr(self.model, name)

    def display_label(self, record: Any) -> str:
        value = getattr(record, self.label) if self.label else None
        return str(value or f"#{record.id}")


class UnknownRecordType(KeyError):
    pass


_TYPES: dict[str, RecordType] = {}


def register(record_type: RecordType) -> RecordType:
    """Add a record type (or replace the one of the same name)."""
    if any(t.plural == record_type.plural and t.name != record_type.name for t in _TYPES.values()):
        raise ValueError(f"another record type is already called {record_type.plural!r}")
    _TYPES[record_type.name] = record_type
    return record_type


def unregister(name: str) -> None:
    _TYPES.pop(name, None)


def record_types() -> tuple[RecordType, ...]:
    """Every registered type, in registration order."""
    return tuple(_TYPES.values())


def taggable_types() -> tuple[RecordType, ...]:
    return tuple(t for t in _TYPES.values() if t.taggable)


def listed_types() -> tuple[RecordType, ...]:
    return tuple(t for t in _TYPES.values() if t.listed)


def record_type(name: str) -> RecordType:
    try:
        return _TYPES[name]
    except KeyError:
        raise UnknownRecordType(name) from None


def find(name: str) -> RecordType | None:
    return _TYPES.get(name)


def by_plural(plural: str) -> RecordType | None:
    return next((t for t in _TYPES.values() if t.plural == plural), None)


# Tags: profiles carry them as well as the taggable record types.

def tag_entity_types() -> tuple[str, ...]:
    """What tags attach to: "profile" and each taggable record type."""
    return ("profile", *(t.name for t in taggable_types()))


def entity_plural(entity_type: str) -> str:
    return "profiles" if entity_type == "profile" else record_type(entity_type).plural


def entity_model(entity_type: str) -> type[Any]:
    return Profile if entity_type == "profile" else record_type(entity_type).model


def tagging_model(entity_type: str) -> type[Any]:
    model = ProfileTag if entity_type == "profile" else record_type(entity_type).tag_model
    if model is None:
        raise UnknownRecordType(entity_type)
    return model


def suppression_model(entity_type: str) -> type[Any]:
    model = ProfileTagSuppression if entity_type == "profile" else record_type(entity_type).suppression_model
    if model is None:
        raise UnknownRecordType(entity_type)
    return model


def _dt(name: str, label: str) -> RuleField:
    return RuleField(name, label, "datetime")


register(RecordType(
    "quote", "quotes", "Quotes", "quote", Quote, QuoteTag, QuoteTagSuppression,
    label="number", label_heading="Number", statuses=QUOTE_STATUSES,
    transitions=MappingProxyType({"sent": ("draft",), "accepted": ("sent",), "declined": ("sent",)}),
    amount="total", amount_heading="Total", date="sent_at", date_heading="Sent",
    status_indexed_date="sent_at",
    dates=(("sent_at", "Sent"), ("decided_at", "Decided"), ("expires_at", "Expires")),
    trigger_dates=("sent_at", "expires_at", "decided_at"),
    rule_fields=(
        RuleField("number", "Number"), RuleField("status", "Status", "enum", QUOTE_STATUSES),
        RuleField("total", "Total", "money"), RuleField("currency", "Currency"),
        _dt("sent_at", "Sent"), _dt("decided_at", "Decided"), _dt("expires_at", "Expires"),
    ),
))
register(RecordType(
    "job", "jobs", "Jobs", "job", Job, JobTag, JobTagSuppression,
    label="title", label_heading="Job", statuses=JOB_STATUSES,
    transitions=MappingProxyType({"completed": ("scheduled", "in_progress")}),
    amount="amount", date="finished_at", date_heading="Finished", status_indexed_date="finished_at",
    dates=(("scheduled_at", "Scheduled"), ("finished_at", "Finished")),
    trigger_dates=("scheduled_at", "finished_at"),
    rule_fields=(
        RuleField("title", "Title"), RuleField("status", "Status", "enum", JOB_STATUSES),
        RuleField("amount", "Amount", "money"), RuleField("currency", "Currency"),
        _dt("scheduled_at", "Scheduled"), _dt("started_at", "Started"), _dt("finished_at", "Finished"),
    ),
))
register(RecordType(
    "opportunity", "opportunities", "Opportunities", "opportunity", Opportunity, OpportunityTag,
    OpportunityTagSuppression, label="name", status="stage", statuses=OPPORTUNITY_STAGES,
    amount="value", amount_heading="Value", date="expected_close", date_heading="Expected close",
    dates=(("expected_close", "Expected close"), ("closed_at", "Closed")),
    trigger_dates=("closed_at",),
    rule_fields=(
        RuleField("name", "Name"), RuleField("stage", "Stage", "enum", OPPORTUNITY_STAGES),
        RuleField("value", "Value", "money"), RuleField("currency", "Currency"),
        RuleField("source", "Source"), RuleField("expected_close", "Expected close", "date"),
        _dt("closed_at", "Closed"),
    ),
))
register(RecordType(
    "ticket", "tickets", "Support tickets", "support ticket", SupportTicket,
    label="subject", label_heading="Subject", statuses=TICKET_STATUSES, date="opened_at",
    status_indexed_date="opened_at",
    date_heading="Opened", dates=(("opened_at", "Opened"), ("closed_at", "Closed")),
    trigger_dates=("opened_at", "closed_at"),
    rule_fields=(
        RuleField("subject", "Subject"), RuleField("status", "Status", "enum", TICKET_STATUSES),
        RuleField("priority", "Priority", "enum", TICKET_PRIORITIES),
        _dt("opened_at", "Opened"), _dt("closed_at", "Closed"),
    ),
    rule_date="opened_at", listed=False,
))


def record_models() -> dict[str, type[Any]]:
    """Each registered type's model by its name, in registration order."""
    return {t.name: t.model for t in _TYPES.values()}

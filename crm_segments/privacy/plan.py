"""What each table holds about one profile, and what an erasure does with it.

Every table of ``Base.metadata`` has a rule here (tests/privacy/test_plan.py fails otherwise):

- ``delete``: the erasure deletes the person's rows itself (tables that reference the person without a
  foreign key: by phone number, by e-mail address, by a plain id); with ``after_profile``, once the
  profile is gone, because deleting the profile writes rows there (the change log's triggers).
- ``cascade``: the rows go with the profile, or with its records, messages and enrollments, through
  foreign keys (ON DELETE CASCADE) or the triggers that stand in for them.
- ``scrub``: rows about many people that may name this one in free text (a filter typed into a bulk
  operation, a queued import); the erasure overwrites the naming columns and keeps the row.
- ``none``: the table holds nothing about profiles (why says so).

``rows`` selects the person's rows (for the export, the counts and the erasure); ``references`` names
the plain integer columns that hold a profile id without a foreign key, so the erasure test checks them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, Text, and_, cast, false, func, null, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from crm_segments.models import (
    BackgroundTask,
    BulkOperation,
    BulkOperationItem,
    ConsentChange,
    Enrollment,
    EnrollmentStep,
    Job,
    JobLine,
    Message,
    MessageEvent,
    Profile,
    ProfileChange,
    ProfileTag,
    ProfileTagSuppression,
    Quote,
    QuoteLine,
    RfmCutoff,
    RfmScore,
    SegmentEvent,
    SegmentMember,
    TagEvent,
    record_types,
)

MIN_NEEDLE = 5  # shorter values (an external id "P1") would match unrelated text
SCRUBBED = "(removed: it named an erased profile)"


@dataclass(frozen=True)
class Person:
    """A profile as the erasure and the export find it: its id, addresses, and the values that name it
    in free text (lower case, as typed and as JSON writes them)."""

    profile_id: int
    email: str | None
    phone: str | None
    needles: tuple[str, ...]
    uploads: tuple[int, ...] = ()  # queued tasks whose uploaded file names the person

    @classmethod
    def of(cls, session: Session, profile: Profile, *, uploads: bool = False) -> Person:
        """The person of ``profile``; with ``uploads``, also the queued uploads that name them (read in
        full, so only for an erasure)."""
        values = [profile.email, profile.phone, profile.external_id,
                  " ".join(p for p in (profile.first_name, profile.last_name) if p)]
        needles: set[str] = set()
        for value in values:
            if value and len(value) >= MIN_NEEDLE:
                needles |= {value.lower(), json.dumps(value)[1:-1].lower()}
        ordered = tuple(sorted(needles))
        named = tuple(task_id for task_id, payload in session.execute(
            select(BackgroundTask.id, BackgroundTask.payload).where(BackgroundTask.payload.is_not(None)))
            if payload is not None and any(n.encode() in bytes(payload).lower() for n in ordered)) \
            if uploads else ()
        return cls(profile.id, profile.email, profile.phone, ordered, named)


Where = Callable[[Person], ColumnElement[bool]]
Erase = Literal["delete", "cascade", "scrub", "none"]


@dataclass(frozen=True)
class TableRule:
    erase: Erase
    why: str
    rows: Where | None = None
    export: str | None = None               # the section of the export; None: not exported (why says)
    references: tuple[str, ...] = ()        # plain integer columns holding a profile id
    scrub: Mapping[str, Any] = field(default_factory=dict)  # column -> value written over a named row
    hidden: tuple[str, ...] = ()            # columns the export leaves out (internal bookkeeping)
    after_profile: bool = False             # "delete" once the profile is deleted (its deletion writes rows)


def _owned(model: Any, person: Person) -> ColumnElement[bool]:
    return model.profile_id == person.profile_id  # type: ignore[no-any-return]


def _records(model: Any) -> Callable[[Person], Any]:
    return lambda person: select(model.id).where(model.profile_id == person.profile_id)


_quotes, _jobs = _records(Quote), _records(Job)
_messages, _enrollments = _records(Message), _records(Enrollment)


def _owned_ids(entity_type: str) -> Callable[[Person], Any]:
    """The ids of the profile itself or of its records of a registered type."""
    if entity_type == "profile":
        return lambda p: select(Profile.id).where(Profile.id == p.profile_id)
    kind = record_types.record_type(entity_type)
    return lambda p: select(kind.model.id).where(kind.column(kind.owner) == p.profile_id)


def _owner_is(owner: Any) -> Where:
    return lambda person: owner == person.profile_id


def _entity(model: Any, entity_type: str) -> Where:
    return lambda person: model.entity_id.in_(_owned_ids(entity_type)(person))


def _bulk_items(person: Person) -> ColumnElement[bool]:
    return or_(*(and_(BulkOperationItem.entity_id.in_(_owned_ids(entity_type)(person)),
                      BulkOperationItem.operation_id.in_(
                          select(BulkOperation.id).where(BulkOperation.entity_type == entity_type)))
                 for entity_type in record_types.tag_entity_types()))


def _unlinked_events(person: Person) -> ColumnElement[bool]:
    """Provider events about the person that found no message: inbound texts from their number, and
    delivery events that name their number or address."""
    payload = MessageEvent.payload
    named: list[ColumnElement[bool]] = []
    if person.phone:
        named += [payload["From"].as_string() == person.phone, payload["To"].as_string() == person.phone]
    if person.email:
        named.append(func.lower(payload["email"].as_string()) == person.email.lower())
    return and_(MessageEvent.message_id.is_(None), or_(*named)) if named else false()


def _message_events(person: Person) -> ColumnElement[bool]:
    return or_(MessageEvent.profile_id == person.profile_id, MessageEvent.message_id.in_(_messages(person)),
               _unlinked_events(person))


def _naming(*columns: InstrumentedAttribute[Any]) -> Callable[[Person], ColumnElement[bool]]:
    """Rows where any of ``columns`` (as text, any case) contains a value that names the person."""
    def where(person: Person) -> ColumnElement[bool]:
        return or_(false(), *(func.lower(cast(column, Text)).contains(needle, autoescape=True)
                              for column in columns for needle in person.needles))
    return where


def _tasks(person: Person) -> ColumnElement[bool]:
    named = _naming(BackgroundTask.subject, BackgroundTask.params, BackgroundTask.outcome,
                    BackgroundTask.details)(person)
    return or_(named, BackgroundTask.id.in_(person.uploads)) if person.uploads else named


def _none(why: str) -> TableRule:
    return TableRule("none", why)


# Rows owned by a record of a type, besides the record itself: export section and rule, by table.
_CHILDREN: dict[str, dict[str, TableRule]] = {
    "quote": {"crm_quote_lines": TableRule("cascade", "lines of the profile's quotes",
                                           rows=lambda p: QuoteLine.quote_id.in_(_quotes(p)),
                                           export="quote_lines")},
    "job": {"crm_job_lines": TableRule("cascade", "lines of the profile's jobs",
                                       rows=lambda p: JobLine.job_id.in_(_jobs(p)), export="job_lines")},
}
_RECORD_TABLES, _RECORD_TAGS, _RECORD_SUPPRESSIONS = "records", "record tags", "record tag suppressions"


def _record_rules(group: str) -> dict[str, TableRule]:
    """The rules of every registered record type's tables: its rows, their tags, their suppressions."""
    rules: dict[str, TableRule] = {}
    for kind in record_types.record_types():
        many = kind.title.lower()
        if group == _RECORD_TABLES:
            rules[kind.model.__tablename__] = TableRule(
                "cascade", f"the profile's {many}", rows=_owner_is(kind.column(kind.owner)),
                export=kind.plural)
            rules.update(_CHILDREN.get(kind.name, {}))
        elif group == _RECORD_TAGS and kind.tag_model is not None:
            rules[kind.tag_model.__tablename__] = TableRule(
                "cascade", f"tags of the profile's {many}", rows=_entity(kind.tag_model, kind.name),
                export=f"{kind.name}_tags")
        elif group == _RECORD_SUPPRESSIONS and kind.suppression_model is not None:
            rules[kind.suppression_model.__tablename__] = TableRule(
                "cascade", f"the same for its {many}", rows=_entity(kind.suppression_model, kind.name),
                export=f"{kind.name}_tag_suppressions")
    return rules


_DECLARED: dict[str, TableRule | str] = {
    # The profile and what belongs to it.
    "crm_profiles": TableRule("delete", "the profile itself; deleting it cascades to the tables below",
                              rows=lambda p: Profile.id == p.profile_id, export="profile"),
    "records": _RECORD_TABLES,
    "crm_rfm_scores": TableRule("cascade", "the profile's RFM scores", rows=lambda p: _owned(RfmScore, p),
                                export="rfm_scores"),
    # Tags.
    "crm_profile_tags": TableRule("cascade", "the profile's tags (deleted by the profile's triggers)",
                                  rows=_entity(ProfileTag, "profile"), export="profile_tags",
                                  references=("entity_id",)),
    "record tags": _RECORD_TAGS,
    "crm_profile_tag_suppressions": TableRule(
        "cascade", "automatic tags removed by hand from the profile",
        rows=_entity(ProfileTagSuppression, "profile"), export="profile_tag_suppressions"),
    "record tag suppressions": _RECORD_SUPPRESSIONS,
    "crm_tag_events": TableRule("cascade", "the tag history of the profile and its records (the profile's "
                                "triggers delete it)", rows=lambda p: _owned(TagEvent, p),
                                export="tag_history", references=("profile_id",)),
    "crm_bulk_operation_items": TableRule(
        "delete", "what a bulk removal took off the profile or its records, kept for undo; a plain id, "
                  "no foreign key", rows=_bulk_items),
    "crm_profile_changes": TableRule(
        "delete", "the change log incremental segment refreshes read: the profile's id and when it changed; "
                  "a plain id, no foreign key (not exported: bookkeeping)",
        rows=lambda p: ProfileChange.profile_id == p.profile_id, references=("profile_id",),
        after_profile=True),
    "crm_refresh_marks": _none("how far the RFM scores have read the change log: positions only"),
    "crm_rfm_cutoffs": TableRule(
        "delete", "a copy of the RFM score row at a quintile's cut-off position: the profile's id and "
                  "purchase figures; a plain id, no foreign key (not exported: bookkeeping; without it the "
                  "next computation finds the cut-offs from every score and stores them anew)",
        rows=lambda p: RfmCutoff.profile_id == p.profile_id, references=("profile_id",)),
    "crm_bulk_operations": TableRule(
        "scrub", "bulk operations over many entities; one whose filter or description names the person "
                 "loses them (its counts and tags stay)",
        rows=_naming(BulkOperation.selection_description, BulkOperation.selection),
        scrub={"selection_description": SCRUBBED, "selection": null()}),
    # Segments.
    "crm_segment_members": TableRule("cascade", "the segments the profile is in (deleted by the profile's "
                                     "triggers)", rows=lambda p: _owned(SegmentMember, p),
                                     export="segment_memberships", references=("profile_id",)),
    "crm_segment_events": TableRule("cascade", "the profile's segment entries and exits (deleted by the "
                                    "profile's triggers)", rows=lambda p: _owned(SegmentEvent, p),
                                    export="segment_history", references=("profile_id",)),
    # Messages and consent.
    "crm_messages": TableRule("cascade", "messages to or about the profile (its local outbox files are "
                              "deleted with them)", rows=lambda p: _owned(Message, p), export="messages",
                              hidden=("claim_token", "claimed_until")),
    "crm_message_events": TableRule(
        "delete", "delivery events of the profile's messages, and provider events with no message that "
                  "name the profile's number or address (inbound texts)",
        rows=_message_events, export="message_events", hidden=("payload",)),
    "crm_consent_changes": TableRule("cascade", "the profile's consent history (deleted by the profile's "
                                     "triggers)", rows=lambda p: _owned(ConsentChange, p),
                                     export="consent_history", references=("profile_id",)),
    # Workflows.
    "crm_workflow_enrollments": TableRule(
        "cascade", "the profile's workflow enrollments (deleted by the profile's triggers)",
        rows=lambda p: _owned(Enrollment, p), export="workflow_enrollments", references=("profile_id",)),
    "crm_workflow_enrollment_steps": TableRule(
        "cascade", "the steps run for those enrollments",
        rows=lambda p: EnrollmentStep.enrollment_id.in_(_enrollments(p)), export="workflow_steps"),
    # Background work.
    "crm_tasks": TableRule(
        "scrub", "background tasks (imports, bulk tagging, refreshes); one whose parameters, report or "
                 "queued upload names the person loses them, and a queued one is not run",
        rows=_tasks, scrub={"params": {}, "details": null(), "outcome": SCRUBBED, "payload": null()}),
    # Nothing about profiles.
    "crm_erasures": _none("the audit of erasures: ids and counts only"),
    "crm_users": _none("the product's own users (staff), not profiles"),
    "crm_api_keys": _none("API keys of users"),
    "crm_categories": _none("the product catalogue"),
    "crm_products": _none("the product catalogue"),
    "crm_tags": _none("tag names and colours"),
    "crm_auto_tag_rules": _none("rules written by admins; one that names a person by value is theirs to "
                                "change"),
    "crm_segments": _none("segment definitions written by admins and their member counts"),
    "crm_saved_views": _none("users' saved list filters, sorts and columns; a search text that names a "
                             "person is its user's to change"),
    "crm_segment_sizes": _none("segment sizes over time: counts"),
    "crm_segment_days": _none("segment entries and exits per day: counts"),
    "crm_rfm_cells": _none("RFM grid cells per owner: counts and sums"),
    "crm_segment_sources": _none("segment members per acquisition source: counts"),
    "crm_message_days": _none("messages sent, delivered, opened and clicked per day: counts"),
    "crm_workflows": _none("workflow definitions"),
    "crm_message_templates": _none("message templates"),
    "crm_channel_pauses": _none("a channel's provider refused the credentials: the provider's error"),
    "crm_scheduler_jobs": _none("the scheduler's job store"),
    "crm_scheduler_leases": _none("which process runs the scheduler"),
    "crm_senders": _none("the sender processes at work: host, process id, heartbeat"),
}


class _Plan(Mapping[str, TableRule]):
    """Every table's rule, the record types' tables as the registry has them when it is read."""

    def _current(self) -> dict[str, TableRule]:
        rules: dict[str, TableRule] = {}
        for name, rule in _DECLARED.items():
            rules.update(_record_rules(rule) if isinstance(rule, str) else {name: rule})
        return rules

    def __getitem__(self, name: str) -> TableRule:
        return self._current()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())


PLAN: Mapping[str, TableRule] = _Plan()

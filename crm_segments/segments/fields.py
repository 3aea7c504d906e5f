"""The whitelist of what a rule may test: profile fields, related-record sources and their fields.

Nothing outside this registry can reach SQL. Each field names a mapped column (``column``) and has a
type that decides its operators (crm_segments/segments/operators.py). Two families of profile fields
are open-ended but still typed: ``custom.<key>`` reads the profile's JSON custom attributes with a
type declared in the rule, and ``rfm.<score>`` reads the profile's RFM scores (crm_rfm_scores).

A *scope* is where a condition is evaluated: ``profile`` at the top of a segment rule, or a record
source (``quotes``, ``jobs``...) inside a related-records condition or at the top of a record rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from crm_segments.models.profiles import (
    CONSENT_SOURCES,
    EDUCATION_LEVELS,
    FAMILY_STATUSES,
    GENDERS,
    INCOME_BANDS,
    LIFECYCLE_STATUSES,
)
from crm_segments.models.record_types import RecordType, record_types, taggable_types

FieldType = Literal["text", "number", "money", "date", "datetime", "boolean", "enum"]
CUSTOM_TYPES: tuple[FieldType, ...] = ("text", "number", "boolean", "date")
CUSTOM_PREFIX = "custom."
RFM_PREFIX = "rfm."
CUSTOM_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")  # also keeps JSON paths free of quoting


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: FieldType
    column: str  # attribute on the scope's model (or on ``via``)
    choices: tuple[str, ...] = ()
    group: str = ""
    via: str | None = None  # "rfm": the column lives in crm_rfm_scores, one row per profile
    custom_key: str | None = None  # custom.<key>: the key inside Profile.custom_attributes


@dataclass(frozen=True)
class Source:
    """A kind of record a profile owns, testable with a related-records condition."""

    name: str
    label: str
    singular: str
    fields: tuple[Field, ...]
    date_field: str  # default for ``within`` windows and first / last dates
    amount_field: str | None  # default for sum / avg
    has_tags: bool
    fields_by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields_by_name", {f.name: f for f in self.fields})


def _text(name: str, label: str, group: str = "") -> Field:
    return Field(name, label, "text", name, group=group)


def _enum(name: str, label: str, choices: tuple[str, ...], group: str = "") -> Field:
    return Field(name, label, "enum", name, choices=choices, group=group)


def _dt(name: str, label: str, group: str = "") -> Field:
    return Field(name, label, "datetime", name, group=group)


PROFILE_FIELDS: tuple[Field, ...] = (
    _text("first_name", "First name", "Contact"),
    _text("last_name", "Last name", "Contact"),
    _text("email", "Email", "Contact"),
    _text("phone", "Phone", "Contact"),
    _text("company", "Company", "Firmographics"),
    _text("job_title", "Job title", "Firmographics"),
    _text("industry", "Industry", "Firmographics"),
    Field("company_size", "Company size", "number", "company_size", group="Firmographics"),
    Field("annual_revenue", "Annual revenue", "money", "annual_revenue", group="Firmographics"),
    Field("birth_date", "Birth date", "date", "birth_date", group="Demographics"),
    _enum("gender", "Gender", GENDERS, "Demographics"),
    _enum("income_band", "Income band", INCOME_BANDS, "Demographics"),
    _enum("education", "Education", EDUCATION_LEVELS, "Demographics"),
    _text("occupation", "Occupation", "Demographics"),
    _enum("family_status", "Family status", FAMILY_STATUSES, "Demographics"),
    _text("city", "City", "Geography"),
    _text("region", "Region", "Geography"),
    _text("country", "Country", "Geography"),
    _text("postal_code", "Postal code", "Geography"),
    _text("time_zone", "Time zone", "Geography"),
    _text("acquisition_source", "Acquisition source", "Acquisition"),
    _text("acquisition_channel", "Acquisition channel", "Acquisition"),
    _text("acquisition_campaign", "Acquisition campaign", "Acquisition"),
    _enum("lifecycle_status", "Lifecycle status", LIFECYCLE_STATUSES, "Acquisition"),
    Field("email_consent", "Email consent", "boolean", "email_consent", group="Consent"),
    _dt("email_consent_at", "Email consent changed", "Consent"),
    _enum("email_consent_source", "Email consent source", CONSENT_SOURCES, "Consent"),
    _dt("email_bounced_at", "Email bounced", "Consent"),
    Field("sms_consent", "SMS consent", "boolean", "sms_consent", group="Consent"),
    _dt("sms_consent_at", "SMS consent changed", "Consent"),
    _enum("sms_consent_source", "SMS consent source", CONSENT_SOURCES, "Consent"),
    _dt("created_at", "Created", "Data age"),
    _dt("updated_at", "Last updated", "Data age"),
)

RFM_FIELDS: tuple[Field, ...] = tuple(
    Field(f"{RFM_PREFIX}{name}", f"RFM {name} score", "number", name, group="RFM", via="rfm")
    for name in ("recency", "frequency", "monetary")
)

_RECORD_DATES = (_dt("created_at", "Created"), _dt("updated_at", "Last updated"))

# A purchase is a line of a completed job (crm_segments/segments/sources.py joins them).
PURCHASES = Source(
    "purchases", "Purchases", "purchase",
    (
        _text("product", "Product SKU"),
        _text("product_name", "Product name"),
        _text("category", "Category"),
        Field("quantity", "Quantity", "number", "quantity"),
        Field("amount", "Amount", "money", "amount"),
        _dt("purchased_at", "Purchased"),
    ),
    date_field="purchased_at", amount_field="amount", has_tags=False,
)


def source_of(record_type: RecordType) -> Source:
    """A registered record type as a rule source: its rule fields, then created and updated."""
    fields = tuple(Field(f.name, f.label, f.type, f.attribute, choices=f.choices)
                   for f in record_type.rule_fields)
    return Source(record_type.plural, record_type.title, record_type.noun, (*fields, *_RECORD_DATES),
                  date_field=record_type.rule_date, amount_field=record_type.amount,
                  has_tags=record_type.taggable)


class _Sources(Mapping[str, Source]):
    """The rule sources: each registered record type (read from the registry on each use), then
    purchases. Built again only when the registry changes."""

    _built: tuple[tuple[RecordType, ...], dict[str, Source]] | None = None

    def _current(self) -> dict[str, Source]:
        types = record_types()
        if self._built is None or not _same(self._built[0], types):
            self._built = (types, {**{t.plural: source_of(t) for t in types}, PURCHASES.name: PURCHASES})
        return self._built[1]

    def __getitem__(self, name: str) -> Source:
        return self._current()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())


def _same(old: tuple[RecordType, ...], new: tuple[RecordType, ...]) -> bool:
    return len(old) == len(new) and all(a is b for a, b in zip(old, new, strict=True))


SOURCES: Mapping[str, Source] = _Sources()


class _RecordRoots(Mapping[str, str]):
    """Record rules (auto-tag rules on records) start in the scope of a taggable record type."""

    def _current(self) -> dict[str, str]:
        return {t.name: t.plural for t in taggable_types()}

    def __getitem__(self, name: str) -> str:
        return self._current()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())


RECORD_ROOTS: Mapping[str, str] = _RecordRoots()

PROFILE_FIELDS_BY_NAME = {f.name: f for f in (*PROFILE_FIELDS, *RFM_FIELDS)}


@dataclass(frozen=True)
class Scope:
    """Where a condition is evaluated; ``parent`` is the enclosing record or profile, if any."""

    source: str  # "profile" or a key of SOURCES
    parent: Scope | None = None
    is_root: bool = False

    @property
    def is_profile(self) -> bool:
        return self.source == "profile"

    @property
    def has_tags(self) -> bool:
        return self.is_profile or SOURCES[self.source].has_tags

    def child(self, source: str) -> Scope:
        return Scope(source, parent=self)


def root_scope(root: str) -> Scope:
    if root == "profile":
        return Scope("profile", is_root=True)
    if root in RECORD_ROOTS:
        return Scope(RECORD_ROOTS[root], is_root=True)
    raise ValueError(f"unknown rule root {root!r}: use 'profile' or one of {', '.join(RECORD_ROOTS)}")


class FieldLookupError(ValueError):
    def __init__(self, key: Literal["field", "type"], message: str) -> None:
        super().__init__(message)
        self.key = key


def lookup_field(scope: Scope, name: str, declared_type: str | None) -> Field:
    """The field ``name`` in ``scope``; FieldLookupError says why it is not allowed."""
    if scope.is_profile and name.startswith(CUSTOM_PREFIX):
        key = name[len(CUSTOM_PREFIX):]
        if not CUSTOM_KEY.match(key):
            raise FieldLookupError("field", "custom attribute keys are 1-64 letters, digits or underscores")
        kind = next((t for t in CUSTOM_TYPES if t == (declared_type or "text")), None)
        if kind is None:
            raise FieldLookupError("type", f"custom attribute type must be one of {', '.join(CUSTOM_TYPES)}")
        return Field(name, f"Custom: {key}", kind, "custom_attributes",
                     group="Custom attributes", custom_key=key)
    if declared_type is not None:
        raise FieldLookupError("type", "'type' is only declared for custom.<key> attributes")
    fields = PROFILE_FIELDS_BY_NAME if scope.is_profile else SOURCES[scope.source].fields_by_name
    if name not in fields:
        raise FieldLookupError("field", f"unknown {scope_label(scope.source)} field {name!r}")
    return fields[name]


def scope_label(source: str) -> str:
    return "profile" if source == "profile" else SOURCES[source].singular

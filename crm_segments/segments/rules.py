"""The rule document: JSON in, typed and validated rule tree out (``parse_rule``).

A rule is a tree of JSON objects. Each object is one node, named by exactly one of its keys:

Groups
    ``{"all": [node, ...]}``   every child holds (AND); at least one child
    ``{"any": [node, ...]}``   at least one child holds (OR); at least one child
    ``{"not": node}``          the child does not hold

Field condition (profile fields, or a record's own fields inside ``records``)
    ``{"field": "region", "op": "eq", "value": "Ontario"}``
    ``{"field": "birth_date", "op": "anniversary_in_next", "value": 7}``
    ``{"field": "updated_at", "op": "more_than_ago", "value": 6, "unit": "months"}``
    ``{"field": "custom.pets", "type": "number", "op": "gt", "value": 1}``  (JSON custom attribute)
    ``{"field": "rfm.recency", "op": "gte", "value": 4}``                  (RFM score 1-5)
    ``{"field": "created_at", "op": "after", "ref": "parent.sent_at"}``     (compare with the
    enclosing record's field instead of a value)
    Values by operator: none (``is_set``...), one value, a non-empty list (``in``), a pair
    ``[low, high]`` (``between``, inclusive), or a count ``value`` with ``unit`` days / weeks /
    months (``within_last``, ``more_than_ago``, ``in_next``). Dates are ``"YYYY-MM-DD"``; money
    has at most two decimals. Operators per type: crm_segments/segments/operators.py.

Tags (of the profile, or of a quote / job / opportunity inside ``records``)
    ``{"tags": ["vip", "gold"], "match": "any" | "all" | "none",
       "added_within": {"value": 30, "unit": "days"}, "source": "rule"}``
    ``match`` defaults to "any"; ``added_within`` and ``source`` are optional filters.

Related records: quotes, jobs, opportunities, tickets, purchases (lines of completed jobs)
    ``{"records": "quotes", "where": node, "within": {"value": 90, "unit": "days"}, "exists": true}``
    and instead of ``exists`` one measure with a comparison:
    ``"count": {"op": "gte", "value": 3}``
    ``"sum": {"op": "gt", "value": 1000}`` / ``"avg": {...}`` of the amount (or ``"field"``)
    ``"first": {"op": "before", "value": "2024-01-01"}`` / ``"last": {...}`` of the record date
    (or ``"field"``). ``within`` limits the records to a window on the source's date field, or on
    another of its date fields named by ``"date"``: ``{"value": 7, "unit": "days", "date": "sent_at"}``;
    ``where`` tests the record's own fields and tags and may nest further ``records`` conditions
    (same profile) whose fields can ``ref`` this record's fields as ``parent.<field>``.

Segment membership: ``{"segment": 12}`` or ``{"segment": "vip"}`` (id or key)

Record rules (``parse_rule(doc, root="quote")``) test a quote / job / opportunity's own fields and
tags at the top level and its profile through ``{"profile": node}``.

Validation fails closed: an empty group, an unknown key, field or operator, or a bad value raises
``RuleError`` with the path of the offending node, e.g. ``rule.all[2].any[0].value``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeAlias

from crm_segments.kernel.storable_text import PROBLEM, has_unstorable_text
from crm_segments.models.tags import TAG_NAME_MAX, TAG_SOURCES

from .fields import (
    SOURCES,
    Field,
    FieldLookupError,
    FieldType,
    Scope,
    Source,
    lookup_field,
    root_scope,
    scope_label,
)
from .operators import CUSTOM_DATE_EXCLUDED, OPERATORS, Operator
from .periods import UNITS, Unit

MAX_DEPTH = 32
MAX_LIST = 1000
MAX_TEXT = 500
MAX_PERIOD = 10_000
MAX_NUMBER = 1e15
MAX_MONEY = Decimal("1e12")
MAX_COUNT = 2**31 - 1  # compared with COUNT(*): a larger bound overflows the stores' integers
MAX_SEGMENT_ID = 2**31 - 1  # segment ids are 32-bit integer columns
MAX_DOCUMENT_NODES = 20_000  # objects, lists and scalars in one document
MAX_JSON_DEPTH = 4 * MAX_DEPTH + 8  # JSON nesting: each rule level is at most a few JSON levels


class RuleError(ValueError):
    """A rule document that cannot be used, with the path of the offending node."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class AllOf:
    children: tuple[Rule, ...]


@dataclass(frozen=True)
class AnyOf:
    children: tuple[Rule, ...]


@dataclass(frozen=True)
class NotOf:
    child: Rule


@dataclass(frozen=True)
class FieldRef:
    """A field of the enclosing scope (``parent.<field>``): a record source or "profile"."""

    field: Field
    source: str = "profile"


@dataclass(frozen=True)
class FieldCondition:
    field: Field
    op: str
    value: Any = None
    unit: Unit | None = None
    ref: FieldRef | None = None

    @property
    def operator(self) -> Operator:
        return OPERATORS[self.field.type][self.op]


@dataclass(frozen=True)
class Window:
    value: int
    unit: Unit
    date: str | None = None  # a related-records window: the date field it counts from (None: the default)


@dataclass(frozen=True)
class TagCondition:
    names: tuple[str, ...]
    match: Literal["any", "all", "none"] = "any"
    added_within: Window | None = None
    source: str | None = None


MeasureKind = Literal["count", "sum", "avg", "first", "last"]


@dataclass(frozen=True)
class Measure:
    """An aggregate over the matching records compared by ``condition`` (its field is what is
    aggregated: a synthetic ``count`` field, the summed money field, or the date field)."""

    kind: MeasureKind
    condition: FieldCondition


@dataclass(frozen=True)
class RecordCondition:
    source: str
    where: Rule | None = None
    within: Window | None = None
    exists: bool | None = None  # set when there is no measure
    measure: Measure | None = None

    @property
    def window_field(self) -> Field:
        """The date field ``within`` counts from: the one it names, else the source's default."""
        source = SOURCES[self.source]
        name = self.within.date if self.within is not None and self.within.date else source.date_field
        return source.fields_by_name[name]


@dataclass(frozen=True)
class SegmentCondition:
    segment: int | str


@dataclass(frozen=True)
class ProfileCondition:
    """In a record rule: the record's profile satisfies ``rule``."""

    rule: Rule


Rule: TypeAlias = (
    AllOf | AnyOf | NotOf | FieldCondition | TagCondition | RecordCondition | SegmentCondition
    | ProfileCondition
)

COUNT_FIELD = Field("count", "number", "number", "")
_NODE_KEYS = ("all", "any", "not", "field", "tags", "records", "segment", "profile")
_MEASURES: tuple[MeasureKind, ...] = ("count", "sum", "avg", "first", "last")


def parse_rule(doc: Any, *, root: str = "profile") -> Rule:
    """Validate a rule document; ``root`` is "profile" (segments) or "quote" / "job" / "opportunity"."""
    _check_document(doc)
    return _parse(doc, "rule", root_scope(root), 0)


def _check_document(doc: Any) -> None:
    """Refuse what no store can hold before reading the rule: too deep or too large a document, text
    with NUL characters or unpaired surrogates. Iterative, so a 5,000-deep document is no recursion."""
    stack: list[tuple[Any, str, int]] = [(doc, "rule", 0)]
    nodes = 0
    while stack:
        value, path, depth = stack.pop()
        nodes += 1
        if nodes > MAX_DOCUMENT_NODES:
            raise RuleError("rule", f"a rule document has at most {MAX_DOCUMENT_NODES} values")
        if depth > MAX_JSON_DEPTH:
            raise RuleError(path, f"rules nest at most {MAX_DEPTH} levels deep")
        if isinstance(value, str):
            if has_unstorable_text(value):
                raise RuleError(path, PROBLEM)
        elif isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str) or has_unstorable_text(key):
                    raise RuleError(path, f"keys are text that {PROBLEM.removeprefix('must ')}"
                                    if isinstance(key, str) else "keys must be text")
                stack.append((item, f"{path}.{key}", depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))
        elif value is not None and not isinstance(value, bool | int | float):
            raise RuleError(path, "must be JSON: an object, list, text, number, true, false or null")


def _parse(doc: Any, path: str, scope: Scope, depth: int) -> Rule:
    if depth > MAX_DEPTH:
        raise RuleError(path, f"rules nest at most {MAX_DEPTH} levels deep")
    if not isinstance(doc, dict) or not doc:
        raise RuleError(path, "a condition must be a non-empty JSON object")
    kinds = [k for k in _NODE_KEYS if k in doc]
    if len(kinds) != 1:
        raise RuleError(path, f"a condition needs exactly one of: {', '.join(_NODE_KEYS)}")
    kind = kinds[0]
    if kind in ("all", "any"):
        _only(doc, path, {kind})
        items = doc[kind]
        if not isinstance(items, list) or not items:
            raise RuleError(f"{path}.{kind}", "a group needs a non-empty list of conditions")
        children = tuple(_parse(c, f"{path}.{kind}[{i}]", scope, depth + 1) for i, c in enumerate(items))
        return AllOf(children) if kind == "all" else AnyOf(children)
    if kind == "not":
        _only(doc, path, {"not"})
        return NotOf(_parse(doc["not"], f"{path}.not", scope, depth + 1))
    if kind == "field":
        return _parse_field(doc, path, scope)
    if kind == "tags":
        return _parse_tags(doc, path, scope)
    if kind == "records":
        return _parse_records(doc, path, scope, depth)
    if kind == "segment":
        return _parse_segment(doc, path, scope)
    return _parse_profile(doc, path, scope, depth)


def _only(doc: dict[str, Any], path: str, allowed: set[str]) -> None:
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise RuleError(f"{path}.{unknown[0]}", f"unknown key (allowed here: {', '.join(sorted(allowed))})")


def _parse_field(doc: dict[str, Any], path: str, scope: Scope) -> FieldCondition:
    _only(doc, path, {"field", "type", "op", "value", "unit", "ref"})
    name, declared = doc["field"], doc.get("type")
    if not isinstance(name, str):
        raise RuleError(f"{path}.field", "must be a field name")
    if declared is not None and not isinstance(declared, str):
        raise RuleError(f"{path}.type", "must be a type name")
    try:
        field = lookup_field(scope, name, declared)
    except FieldLookupError as exc:
        raise RuleError(f"{path}.{exc.key}", str(exc)) from None
    return _parse_comparison(doc, path, field, scope)


def _parse_comparison(doc: dict[str, Any], path: str, field: Field, scope: Scope | None,
                      *, allow_unset: bool = True) -> FieldCondition:
    op_name = doc.get("op")
    operators = OPERATORS[field.type]
    if field.custom_key is not None and field.type == "date":
        operators = {k: v for k, v in operators.items() if k not in CUSTOM_DATE_EXCLUDED}
    if not allow_unset:
        operators = {k: v for k, v in operators.items() if v.value_kind != "none"}
    if not isinstance(op_name, str) or op_name not in operators:
        raise RuleError(f"{path}.op", f"operator {op_name!r} is not available for {field.type} field "
                        f"{field.name!r} (use one of: {', '.join(operators)})")
    op = operators[op_name]
    if "ref" in doc:
        return _parse_ref(doc, path, field, op, scope)
    unit = _parse_unit(doc, path, op)
    if op.value_kind == "none":
        if "value" in doc:
            raise RuleError(f"{path}.value", f"operator {op_name!r} takes no value")
        return FieldCondition(field, op_name)
    if "value" not in doc:
        raise RuleError(f"{path}.value", f"operator {op_name!r} needs a value")
    value = _parse_value(doc["value"], f"{path}.value", field, op)
    return FieldCondition(field, op_name, value, unit)


def _parse_unit(doc: dict[str, Any], path: str, op: Operator) -> Unit | None:
    if op.value_kind == "period":
        unit = doc.get("unit")
        if unit not in UNITS:
            raise RuleError(f"{path}.unit", f"must be one of: {', '.join(UNITS)}")
        return unit  # type: ignore[no-any-return]
    if op.value_kind == "days":
        if doc.get("unit", "days") != "days":
            raise RuleError(f"{path}.unit", "this operator counts days")
        return "days"
    if "unit" in doc:
        raise RuleError(f"{path}.unit", f"operator {op.name!r} takes no unit")
    return None


def _parse_ref(doc: dict[str, Any], path: str, field: Field, op: Operator,
               scope: Scope | None) -> FieldCondition:
    if not op.accepts_ref:
        raise RuleError(f"{path}.ref", f"operator {op.name!r} cannot compare with another field")
    if "value" in doc or "unit" in doc:
        raise RuleError(f"{path}.ref", "give either a value or a ref, not both")
    ref = doc["ref"]
    if not isinstance(ref, str) or not ref.startswith("parent."):
        raise RuleError(f"{path}.ref", "must be 'parent.<field>'")
    if scope is None or scope.parent is None:
        raise RuleError(f"{path}.ref", "'parent' is only available inside a records condition")
    try:
        target = lookup_field(scope.parent, ref.removeprefix("parent."), None)
    except ValueError as exc:
        raise RuleError(f"{path}.ref", str(exc)) from None
    if target.via is not None or target.custom_key is not None or field.custom_key is not None:
        raise RuleError(f"{path}.ref", "only plain record and profile fields can be compared")
    if _family(target.type) != _family(field.type):
        raise RuleError(f"{path}.ref", f"cannot compare {field.type} field {field.name!r} with "
                        f"{target.type} field {target.name!r} of the {scope_label(scope.parent.source)}")
    return FieldCondition(field, op.name, ref=FieldRef(target, scope.parent.source))


def _family(kind: FieldType) -> str:
    return "number" if kind in ("number", "money") else kind


def _parse_value(raw: Any, path: str, field: Field, op: Operator) -> Any:
    kind = op.value_kind
    if kind == "many":
        if not isinstance(raw, list) or not raw:
            raise RuleError(path, "must be a non-empty list")
        if len(raw) > MAX_LIST:
            raise RuleError(path, f"at most {MAX_LIST} values")
        return tuple(_scalar(v, f"{path}[{i}]", field) for i, v in enumerate(raw))
    if kind == "range":
        if not isinstance(raw, list) or len(raw) != 2:
            raise RuleError(path, "must be a list [low, high]")
        low, high = (_scalar(v, f"{path}[{i}]", field) for i, v in enumerate(raw))
        if low > high:
            raise RuleError(path, "low must not be greater than high")
        return (low, high)
    if kind in ("period", "days"):
        top = 366 if kind == "days" else MAX_PERIOD
        if not _is_int(raw) or not 0 <= raw <= top:
            raise RuleError(path, f"must be a whole number from 0 to {top}")
        return raw
    return _scalar(raw, path, field)


def _is_int(raw: Any) -> bool:
    return isinstance(raw, int) and not isinstance(raw, bool)


def _scalar(raw: Any, path: str, field: Field) -> Any:
    kind = field.type
    if kind == "text":
        if not isinstance(raw, str) or not raw or len(raw) > MAX_TEXT:
            raise RuleError(path, f"must be a non-empty text of at most {MAX_TEXT} characters")
        return raw
    if kind == "enum":
        if raw not in field.choices:
            raise RuleError(path, f"must be one of: {', '.join(field.choices)}")
        return raw
    if kind == "number":
        if field is COUNT_FIELD:
            if not _is_int(raw) or not 0 <= raw <= MAX_COUNT:
                raise RuleError(path, f"must be a whole number from 0 to {MAX_COUNT}")
            return raw
        if (not isinstance(raw, int | float) or isinstance(raw, bool) or not math.isfinite(raw)
                or abs(raw) > MAX_NUMBER):
            raise RuleError(path, "must be a number")
        return raw
    if kind == "money":
        return _money(raw, path)
    if kind in ("date", "datetime"):
        return _date(raw, path)
    raise RuleError(path, f"{kind} fields take no value")  # pragma: no cover - booleans have no value ops


def _money(raw: Any, path: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise RuleError(path, "must be an amount")
    try:
        amount = Decimal(str(raw))
    except InvalidOperation:
        raise RuleError(path, "must be an amount") from None
    if not amount.is_finite() or abs(amount) >= MAX_MONEY:
        raise RuleError(path, "must be an amount")
    if amount != amount.quantize(Decimal("0.01")):
        raise RuleError(path, "amounts have at most two decimals")
    return amount.quantize(Decimal("0.01"))


def _date(raw: Any, path: str) -> dt.date:
    if isinstance(raw, str) and len(raw) == 10:
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            pass
    raise RuleError(path, "must be a date YYYY-MM-DD")


def _parse_window(raw: Any, path: str, dates: tuple[str, ...] = ()) -> Window:
    """``dates``: the date fields a related-records window may count from (none for tags)."""
    if not isinstance(raw, dict):
        raise RuleError(path, "must be an object {\"value\": N, \"unit\": \"days\"}")
    _only(raw, path, {"value", "unit", "date"} if dates else {"value", "unit"})
    value, unit = raw.get("value"), raw.get("unit")
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_PERIOD:
        raise RuleError(f"{path}.value", f"must be a whole number from 0 to {MAX_PERIOD}")
    if unit not in UNITS:
        raise RuleError(f"{path}.unit", f"must be one of: {', '.join(UNITS)}")
    date = raw.get("date")
    if date is not None and date not in dates:
        raise RuleError(f"{path}.date", f"must be one of the date fields: {', '.join(dates)}")
    return Window(value, unit, date)


def _parse_tags(doc: dict[str, Any], path: str, scope: Scope) -> TagCondition:
    _only(doc, path, {"tags", "match", "added_within", "source"})
    if not scope.has_tags:
        raise RuleError(f"{path}.tags", f"{SOURCES[scope.source].label.lower()} have no tags")
    raw = doc["tags"]
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names or len(names) > MAX_LIST:
        raise RuleError(f"{path}.tags", "must be a tag name or a non-empty list of tag names")
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name.strip() or len(name) > TAG_NAME_MAX:
            raise RuleError(f"{path}.tags[{i}]", f"must be a tag name of 1-{TAG_NAME_MAX} characters")
    match = doc.get("match", "any")
    if match not in ("any", "all", "none"):
        raise RuleError(f"{path}.match", "must be one of: any, all, none")
    window = _parse_window(doc["added_within"], f"{path}.added_within") if "added_within" in doc else None
    source = doc.get("source")
    if source is not None and source not in TAG_SOURCES:
        raise RuleError(f"{path}.source", f"must be one of: {', '.join(TAG_SOURCES)}")
    return TagCondition(tuple(names), match, window, source)


def _parse_records(doc: dict[str, Any], path: str, scope: Scope, depth: int) -> RecordCondition:
    _only(doc, path, {"records", "where", "within", "exists", *_MEASURES})
    name = doc["records"]
    if name not in SOURCES:
        raise RuleError(f"{path}.records", f"must be one of: {', '.join(SOURCES)}")
    source = SOURCES[name]
    inner = scope.child(name)
    where = _parse(doc["where"], f"{path}.where", inner, depth + 1) if "where" in doc else None
    within = (_parse_window(doc["within"], f"{path}.within", window_dates(source))
              if "within" in doc else None)
    chosen = [k for k in ("exists", *_MEASURES) if k in doc]
    if len(chosen) != 1:
        raise RuleError(path, "a records condition needs exactly one of: exists, " + ", ".join(_MEASURES))
    if chosen[0] == "exists":
        if not isinstance(doc["exists"], bool):
            raise RuleError(f"{path}.exists", "must be true or false")
        return RecordCondition(name, where, within, exists=doc["exists"])
    kind: MeasureKind = chosen[0]  # type: ignore[assignment]
    body, body_path = doc[kind], f"{path}.{kind}"
    if not isinstance(body, dict):
        raise RuleError(body_path, "must be an object with op and value")
    if kind == "count":
        _only(body, body_path, {"op", "value"})
        field = COUNT_FIELD
    else:
        _only(body, body_path, {"op", "value", "unit", "field"})
        wanted: tuple[FieldType, ...] = ("money",) if kind in ("sum", "avg") else ("date", "datetime")
        default = source.amount_field if kind in ("sum", "avg") else source.date_field
        field_name = body.get("field", default)
        field_obj = source.fields_by_name.get(field_name) if isinstance(field_name, str) else None
        if field_obj is None or field_obj.type not in wanted:
            raise RuleError(f"{body_path}.field", f"{source.label.lower()} have no {' or '.join(wanted)} "
                            f"field {field_name!r} to take the {kind} of")
        field = field_obj
    condition = _parse_comparison(body, body_path, field, None, allow_unset=False)
    return RecordCondition(name, where, within, measure=Measure(kind, condition))


def window_dates(source: Source) -> tuple[str, ...]:
    """The date fields of a record source a ``within`` window may count from, its default first."""
    dated = [f.name for f in source.fields if f.type in ("date", "datetime")]
    return (source.date_field, *(name for name in dated if name != source.date_field))


def _parse_segment(doc: dict[str, Any], path: str, scope: Scope) -> SegmentCondition:
    _only(doc, path, {"segment"})
    if not scope.is_profile:
        raise RuleError(f"{path}.segment", "segment membership is a profile condition")
    ref = doc["segment"]
    if _is_int(ref) and 0 < ref <= MAX_SEGMENT_ID:
        return SegmentCondition(ref)
    if isinstance(ref, str) and ref.strip() and len(ref) <= 120:
        return SegmentCondition(ref)
    raise RuleError(f"{path}.segment", "must be a segment id or key")


def _parse_profile(doc: dict[str, Any], path: str, scope: Scope, depth: int) -> ProfileCondition:
    _only(doc, path, {"profile"})
    if scope.is_profile or not scope.is_root:
        raise RuleError(f"{path}.profile", "a profile condition belongs at the top of a record rule")
    return ProfileCondition(_parse(doc["profile"], f"{path}.profile", Scope("profile"), depth + 1))

"""A plain-Python evaluator of rules over in-memory data: the specification the SQL is checked against.

It shares no code with the compiler beyond the parsed rule and calendar arithmetic, so a test that
compares its answer with the database's catches mistakes on either side. Profile data is a dict:

    {"profile": {<field>: value, ..., "custom_attributes": {...}},
     "tags": [{"name": "VIP", "source": "manual", "added_at": datetime}],
     "quotes" | "jobs" | "opportunities" | "tickets": [{<field>: value, ..., "tags": [...]}],
     "purchases": [{"product": sku, "product_name": ..., "category": ..., "quantity": ...,
                    "amount": ..., "purchased_at": ...}],   # lines of completed jobs only
     "segments": [ids and keys of the segments the profile is a member of],
     "rfm": {"recency": 1-5, "frequency": 1-5, "monetary": 1-5} or None}

Missing keys count as empty. Timestamps are aware datetimes, money is Decimal.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from crm_segments.models.tags import normalize_tag_name
from crm_segments.segments.fields import SOURCES, Field
from crm_segments.segments.periods import shift
from crm_segments.segments.rules import (
    AllOf,
    AnyOf,
    FieldCondition,
    Measure,
    NotOf,
    ProfileCondition,
    RecordCondition,
    Rule,
    SegmentCondition,
    TagCondition,
)

ProfileData = Mapping[str, Any]


@dataclass(frozen=True)
class _Env:
    row: Mapping[str, Any]
    tags: Sequence[Mapping[str, Any]]
    parent: _Env | None
    data: ProfileData
    now: dt.datetime


def evaluate(rule: Rule, profile_data: ProfileData, *, now: dt.datetime) -> bool:
    """Whether the profile described by ``profile_data`` matches ``rule`` (root "profile")."""
    return _eval(rule, _profile_env(profile_data, now))


def evaluate_record(rule: Rule, record: Mapping[str, Any], profile_data: ProfileData, *,
                    now: dt.datetime) -> bool:
    """Whether ``record`` (a quote, job or opportunity of that profile) matches a record rule."""
    return _eval(rule, _Env(record, record.get("tags", ()), None, profile_data, now))


def _profile_env(data: ProfileData, now: dt.datetime) -> _Env:
    return _Env(data.get("profile", {}), data.get("tags", ()), None, data, now)


def _eval(rule: Rule, env: _Env) -> bool:
    if isinstance(rule, AllOf):
        return all(_eval(c, env) for c in rule.children)
    if isinstance(rule, AnyOf):
        return any(_eval(c, env) for c in rule.children)
    if isinstance(rule, NotOf):
        return not _eval(rule.child, env)
    if isinstance(rule, FieldCondition):
        return _condition(rule, _value(rule.field, env), env)
    if isinstance(rule, TagCondition):
        return _tags(rule, env)
    if isinstance(rule, RecordCondition):
        return _records(rule, env)
    if isinstance(rule, SegmentCondition):
        return rule.segment in set(env.data.get("segments", ()))
    if isinstance(rule, ProfileCondition):
        return _eval(rule.rule, _profile_env(env.data, env.now))
    raise TypeError(f"not a rule node: {rule!r}")  # pragma: no cover


def _value(field: Field, env: _Env) -> Any:
    if field.via == "rfm":
        scores = env.data.get("rfm")
        return scores.get(field.column) if scores else None
    if field.custom_key is not None:
        attributes = env.row.get("custom_attributes")
        if not isinstance(attributes, dict):
            return None
        value = attributes.get(field.custom_key)
        if field.type == "number":
            return value if _is_number(value) else None
        if field.type == "boolean":
            return value if isinstance(value, bool) else None
        return value if isinstance(value, str) else None
    return env.row.get(field.name)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fold(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


_NEGATIONS = {"neq": "eq", "not_in": "in", "not_contains": "contains", "is_not_empty": "is_empty",
              "is_not_set": "is_set"}


def _condition(cond: FieldCondition, value: Any, env: _Env) -> bool:
    op = cond.op
    if op in _NEGATIONS:
        return not _condition(FieldCondition(cond.field, _NEGATIONS[op], cond.value, cond.unit,
                                             cond.ref), value, env)
    if op == "is_set":
        return value is not None
    if op == "is_empty":
        return value is None or value.strip(" ") == ""
    if value is None:
        return False
    if cond.ref is not None:
        assert env.parent is not None
        other = _value(cond.ref.field, env.parent)
        return other is not None and _compare(op, _comparable(cond.field, value),
                                              _comparable(cond.ref.field, other))
    kind = cond.field.type
    if kind == "text":
        return _text(op, _fold(value), cond.value)
    if kind == "boolean":
        return value is (op == "is_true")
    if kind == "enum":
        return value == cond.value if op == "eq" else value in cond.value
    if kind in ("number", "money"):
        convert = float if kind == "number" else Decimal
        if op == "between":
            return convert(cond.value[0]) <= convert(value) <= convert(cond.value[1])
        return _compare(op, convert(value), convert(cond.value))
    return _temporal(cond, value, env.now)


def _comparable(field: Field, value: Any) -> Any:
    return float(value) if field.type == "number" else value


def _compare(op: str, left: Any, right: Any) -> bool:
    results: dict[str, bool] = {
        "eq": left == right, "lt": left < right, "lte": left <= right, "gt": left > right,
        "gte": left >= right, "before": left < right, "after": left > right,
    }
    return results[op]


def _text(op: str, folded: str, wanted: Any) -> bool:
    if op == "eq":
        return folded == _fold(wanted)
    if op == "in":
        return folded in {_fold(w) for w in wanted}
    if op == "contains":
        return _fold(wanted) in folded
    if op == "starts_with":
        return folded.startswith(_fold(wanted))
    raise ValueError(op)  # pragma: no cover


def _temporal(cond: FieldCondition, value: Any, now: dt.datetime) -> bool:
    """Dates and timestamps: a timestamp is judged by its UTC day for day-valued operators."""
    op, wanted = cond.op, cond.value
    is_timestamp = cond.field.type == "datetime"
    is_text = cond.field.custom_key is not None  # ISO text inside JSON: compared as text, like SQL
    if is_text:
        wanted = _iso(wanted)

    def moved(amount: int) -> Any:
        assert cond.unit is not None
        if is_timestamp:
            return shift(now, amount, cond.unit)
        day = shift(now.astimezone(dt.UTC).date(), amount, cond.unit)
        return day.isoformat() if is_text else day

    if op in ("within_last", "more_than_ago", "in_next"):
        point = now if is_timestamp else moved(0)
        if op == "within_last":
            return bool(moved(-wanted) <= value <= point)
        if op == "more_than_ago":
            return bool(value < moved(-wanted))
        return bool(point <= value <= moved(wanted))
    if op == "anniversary_in_next":
        return _anniversary(value, now, wanted)
    day = value.astimezone(dt.UTC).date() if is_timestamp else value
    if op == "on":
        return bool(day == wanted)
    if op == "before":
        return bool(day < wanted)
    if op == "after":
        return bool(day > wanted)
    if op == "between":
        return bool(wanted[0] <= day <= wanted[1])
    raise ValueError(op)  # pragma: no cover


def _iso(wanted: Any) -> Any:
    if isinstance(wanted, tuple):
        return tuple(_iso(w) for w in wanted)
    return wanted.isoformat() if isinstance(wanted, dt.date) else wanted


def _anniversary(day: dt.date, now: dt.datetime, days: int) -> bool:
    """Walk the calendar: is there a day in the window that is this date's anniversary?"""
    start = now.astimezone(dt.UTC).date()
    for offset in range(days + 1):
        current = start + dt.timedelta(days=offset)
        if (current.month, current.day) == (day.month, day.day):
            return True
        # In common years a Feb 29 anniversary is kept on Feb 28.
        if (day.month, day.day) == (2, 29) and (current.month, current.day) == (2, 28) \
                and not calendar.isleap(current.year):
            return True
    return False


def _tags(cond: TagCondition, env: _Env) -> bool:
    def matching(name: str) -> bool:
        key = normalize_tag_name(name)
        for tagging in env.tags:
            if normalize_tag_name(tagging["name"]) != key:
                continue
            if cond.source is not None and tagging.get("source") != cond.source:
                continue
            if cond.added_within is not None:
                since = shift(env.now, -cond.added_within.value, cond.added_within.unit)
                if not since <= tagging["added_at"] <= env.now:
                    continue
            return True
        return False

    if cond.match == "all":
        return all(matching(n) for n in cond.names)
    found = any(matching(n) for n in cond.names)
    return not found if cond.match == "none" else found


def _records(cond: RecordCondition, env: _Env) -> bool:
    source = SOURCES[cond.source]
    matched: list[Mapping[str, Any]] = []
    for record in env.data.get(cond.source, ()):
        inner = _Env(record, record.get("tags", ()), env, env.data, env.now)
        if cond.within is not None:
            since = shift(env.now, -cond.within.value, cond.within.unit)
            when = record.get(cond.within.date or source.date_field)
            if when is None or not since <= when <= env.now:
                continue
        if cond.where is not None and not _eval(cond.where, inner):
            continue
        matched.append(record)
    if cond.measure is None:
        return bool(matched) == cond.exists
    return _measure(cond.measure, matched, env)


def _measure(measure: Measure, records: list[Mapping[str, Any]], env: _Env) -> bool:
    cond = measure.condition
    if cond.op in _NEGATIONS:
        positive = FieldCondition(cond.field, _NEGATIONS[cond.op], cond.value, cond.unit)
        return not _measure(Measure(measure.kind, positive), records, env)
    if measure.kind == "count":
        return _condition(cond, len(records), env)
    values = [r[cond.field.name] for r in records if r.get(cond.field.name) is not None]
    if measure.kind in ("first", "last"):
        if not values:
            return False
        return _condition(cond, min(values) if measure.kind == "first" else max(values), env)
    total = sum((Decimal(v) for v in values), Decimal(0))
    if measure.kind == "sum":
        return _condition(cond, total, env)
    if not values:
        return False
    # Exact: avg op v  <=>  total op v * n
    n = len(records)
    if cond.op == "between":
        low, high = cond.value
        return bool(low * n <= total <= high * n)
    return _compare(cond.op, total, Decimal(cond.value) * n)


"""A rule in words: "Region is Ontario AND has a quote where Status is sent AND ..."."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .fields import SOURCES, scope_label
from .operators import OPERATORS
from .rules import (
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
    Window,
)

SegmentNames = Mapping[int | str, str]
_MEASURE_WORDS = {"count": "number of", "sum": "total {} of", "avg": "average {} of",
                  "first": "first {} of", "last": "last {} of"}


def describe(rule: Rule, *, segment_names: SegmentNames | None = None) -> str:
    """Render ``rule`` as one line of words; ``segment_names`` maps segment ids / keys to names."""
    return _words(rule, segment_names or {}, top=True)


def _words(rule: Rule, names: SegmentNames, *, top: bool = False) -> str:
    if isinstance(rule, AllOf | AnyOf):
        joiner = " AND " if isinstance(rule, AllOf) else " OR "
        text = joiner.join(_words(c, names) for c in rule.children)
        return text if top or len(rule.children) == 1 else f"({text})"
    if isinstance(rule, NotOf):
        inner = _words(rule.child, names)
        return f"NOT {inner}" if inner.startswith("(") else f"NOT ({inner})"
    if isinstance(rule, FieldCondition):
        return describe_condition(rule)
    if isinstance(rule, TagCondition):
        return _tags(rule)
    if isinstance(rule, RecordCondition):
        return _records(rule, names)
    if isinstance(rule, SegmentCondition):
        label = names.get(rule.segment) or (f"#{rule.segment}" if isinstance(rule.segment, int)
                                            else rule.segment)
        return f"is in segment {label}"
    if isinstance(rule, ProfileCondition):
        return f"its profile: {_words(rule.rule, names, top=True)}"
    raise TypeError(f"not a rule node: {rule!r}")  # pragma: no cover


def describe_condition(cond: FieldCondition, *, subject: str | None = None) -> str:
    op = OPERATORS[cond.field.type][cond.op]
    subject = subject or cond.field.label
    if cond.ref is not None:
        return f"{subject} {op.label} the {scope_label(cond.ref.source)}'s {cond.ref.field.label.lower()}"
    if op.value_kind == "none":
        return f"{subject} {op.label}"
    if op.value_kind == "range":
        low, high = cond.value
        return f"{subject} {op.label} {_value(low)} and {_value(high)}"
    if op.value_kind == "many":
        return f"{subject} {op.label} {', '.join(_value(v) for v in cond.value)}"
    if op.value_kind in ("period", "days"):
        amount = f"{cond.value} {_unit(cond.value, cond.unit or 'days')}"
        return f"{subject} {op.label} {amount}{' ago' if cond.op == 'more_than_ago' else ''}"
    return f"{subject} {op.label} {_value(cond.value)}"


def _value(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return str(value)


def _unit(amount: int, unit: str) -> str:
    return unit[:-1] if amount == 1 else unit


def _window(window: Window) -> str:
    return f"{window.value} {_unit(window.value, window.unit)}"


def _tags(cond: TagCondition) -> str:
    names = ", ".join(cond.names)
    if len(cond.names) == 1:
        text = f"has no tag {names}" if cond.match == "none" else f"has tag {names}"
    else:
        text = f"has {cond.match} of the tags {names}"
    if cond.added_within is not None:
        text += f" added in the last {_window(cond.added_within)}"
    if cond.source is not None:
        text += f" from {cond.source}"
    return text


def _records(cond: RecordCondition, names: SegmentNames) -> str:
    source = SOURCES[cond.source]
    filters = []
    if cond.within is not None:
        filters.append(f"{cond.window_field.label.lower()} in the last "
                       f"{_window(cond.within)}")
    if cond.where is not None:
        filters.append(_words(cond.where, names))
    where = f" where {' AND '.join(filters)}" if filters else ""
    if cond.measure is None:
        article = "an" if source.singular[0] in "aeiou" else "a"
        return f"has {article if cond.exists else 'no'} {source.singular}{where}"
    return _measure(cond.measure, source.label.lower(), where)


def _measure(measure: Measure, plural: str, where: str) -> str:
    field = measure.condition.field
    subject = _MEASURE_WORDS[measure.kind].format(field.label.lower()) + f" {plural}{where}"
    subject = subject[0].upper() + subject[1:]
    return describe_condition(measure.condition, subject=f"({subject})" if where else subject)

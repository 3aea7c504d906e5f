"""The operator registry: which operators each field type has, what value they take, and their SQL.

Every SQL predicate built here is two-valued (TRUE or FALSE, never NULL): a comparison with an unset
value is FALSE. That makes ``not`` the exact complement on every backend and in the reference
evaluator. Negative operators (``neq``, ``not_in``, ``is_not_empty``...) are defined as NOT of their
positive twin, so "region is not Ontario" includes profiles without a region.

Semantics, identical on SQLite and PostgreSQL:
- text comparisons fold ASCII letters only (sqlfuncs.ascii_lower); ``contains`` / ``starts_with``
  escape LIKE wildcards, so ``%`` and ``_`` match themselves; ``is_empty`` is NULL or only spaces.
- dates given for timestamp fields are UTC days: ``on 2024-05-01`` is [00:00, next 00:00) UTC,
  ``after`` a day starts at the next midnight, ``between`` includes both days.
- ``within_last N unit`` is [now - N units, now]; ``more_than_ago`` is before now - N units;
  ``in_next`` is [now, now + N units]; for date fields "now" is today (UTC).
- ``anniversary_in_next N`` (birthdays): the yearly anniversary falls within today .. today + N
  days; Feb 29 anniversaries fall on Feb 28 in common years.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Float, and_, extract, false, func, literal, or_, true
from sqlalchemy.sql.elements import ColumnElement

from .fields import FieldType
from .periods import UNITS, Now, Unit, anniversary_ranges, instant, shift, start_of_day, today
from .sqlfuncs import ascii_lower, fold_ascii

ValueKind = Literal["none", "one", "many", "range", "period", "days"]
Temporal = Literal["date", "datetime", "isodate"]  # isodate: ISO text inside JSON

__all__ = ["OPERATORS", "UNITS", "Operand", "Operator", "like_escape"]


@dataclass(frozen=True)
class Operand:
    """What an operator's SQL is built from: the tested expression and the coerced value."""

    expr: ColumnElement[Any]
    value: Any = None
    unit: Unit | None = None
    ref: ColumnElement[Any] | None = None  # the other side, when comparing with a parent field
    now: Now | None = None  # a fixed time, or parameters of a statement built once (periods.BoundNow)
    temporal: Temporal = "datetime"


Builder = Callable[[Operand], ColumnElement[bool]]


@dataclass(frozen=True)
class Operator:
    name: str
    label: str
    value_kind: ValueKind
    sql: Builder | None = None
    negates: str | None = None  # this operator is NOT <negates>
    accepts_ref: bool = False


def _known(expr: ColumnElement[Any], predicate: ColumnElement[bool]) -> ColumnElement[bool]:
    return and_(expr.is_not(None), predicate)


def like_escape(text: str) -> str:
    """Escape LIKE wildcards with '/', the escape character used in every LIKE built here."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


# --- text ---------------------------------------------------------------------------------------

def _text_eq(o: Operand) -> ColumnElement[bool]:
    return _known(o.expr, ascii_lower(o.expr) == fold_ascii(o.value))


def _text_in(o: Operand) -> ColumnElement[bool]:
    return _known(o.expr, ascii_lower(o.expr).in_([fold_ascii(v) for v in o.value]))


def _text_like(template: str) -> Builder:
    def build(o: Operand) -> ColumnElement[bool]:
        pattern = template.format(like_escape(fold_ascii(o.value)))
        return _known(o.expr, ascii_lower(o.expr).like(pattern, escape="/"))
    return build


def _text_is_empty(o: Operand) -> ColumnElement[bool]:
    # SQL trim() removes spaces only; the reference evaluator strips spaces only too.
    return or_(o.expr.is_(None), func.trim(o.expr) == "")


def _is_set(o: Operand) -> ColumnElement[bool]:
    return o.expr.is_not(None)


# --- numbers, money, enums ----------------------------------------------------------------------

def _bindable(value: Any) -> Any:
    # A float compared with an integer column must not be bound (and cast) as an integer.
    return literal(value, Float()) if isinstance(value, float) else value


def _compare(op: str) -> Builder:
    def build(o: Operand) -> ColumnElement[bool]:
        other = o.ref if o.ref is not None else _bindable(o.value)
        predicate = _COMPARISONS[op](o.expr, other)
        if o.ref is not None:
            predicate = and_(o.ref.is_not(None), predicate)
        return _known(o.expr, predicate)
    return build


_COMPARISONS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "eq": lambda a, b: a == b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
}


def _between(o: Operand) -> ColumnElement[bool]:
    low, high = o.value
    return _known(o.expr, and_(o.expr >= _bindable(low), o.expr <= _bindable(high)))


def _enum_in(o: Operand) -> ColumnElement[bool]:
    return _known(o.expr, o.expr.in_(list(o.value)))


# --- dates and timestamps -----------------------------------------------------------------------

def _point(o: Operand, day: dt.date) -> Any:
    """A calendar day as the value to compare with: midnight UTC, the date, or its ISO text."""
    if o.temporal == "datetime":
        return start_of_day(day)
    return day.isoformat() if o.temporal == "isodate" else day


def _now(o: Operand) -> Any:
    assert o.now is not None
    if o.temporal == "datetime":
        return instant(o.now)
    return _point(o, today(o.now))


def _shifted(o: Operand, amount: int) -> Any:
    assert o.now is not None and o.unit is not None
    if o.temporal == "datetime":
        return instant(o.now, amount, o.unit)
    return _point(o, shift(today(o.now), amount, o.unit))


def _range(o: Operand, low: Any, high: Any, *, high_open: bool = False) -> ColumnElement[bool]:
    upper = o.expr < high if high_open else o.expr <= high
    return _known(o.expr, and_(o.expr >= low, upper))


def _on(o: Operand) -> ColumnElement[bool]:
    if o.temporal == "datetime":
        return _range(o, _point(o, o.value), _point(o, o.value + dt.timedelta(days=1)), high_open=True)
    return _known(o.expr, o.expr == _point(o, o.value))


def _before(o: Operand) -> ColumnElement[bool]:
    if o.ref is not None:
        return _known(o.expr, and_(o.ref.is_not(None), o.expr < o.ref))
    return _known(o.expr, o.expr < _point(o, o.value))


def _after(o: Operand) -> ColumnElement[bool]:
    if o.ref is not None:
        return _known(o.expr, and_(o.ref.is_not(None), o.expr > o.ref))
    if o.temporal == "datetime":
        return _known(o.expr, o.expr >= _point(o, o.value + dt.timedelta(days=1)))
    return _known(o.expr, o.expr > _point(o, o.value))


def _date_between(o: Operand) -> ColumnElement[bool]:
    first, last = o.value
    if o.temporal == "datetime":
        return _range(o, _point(o, first), _point(o, last + dt.timedelta(days=1)), high_open=True)
    return _range(o, _point(o, first), _point(o, last))


def _within_last(o: Operand) -> ColumnElement[bool]:
    return _range(o, _shifted(o, -o.value), _now(o))


def _more_than_ago(o: Operand) -> ColumnElement[bool]:
    return _known(o.expr, o.expr < _shifted(o, -o.value))


def _in_next(o: Operand) -> ColumnElement[bool]:
    return _range(o, _now(o), _shifted(o, o.value))


def _anniversary_in_next(o: Operand) -> ColumnElement[bool]:
    assert o.now is not None
    ranges = anniversary_ranges(o.now, o.value)
    if ranges is None:
        return o.expr.is_not(None)
    month_day = extract("month", o.expr) * 100 + extract("day", o.expr)
    return _known(o.expr, or_(*(and_(month_day >= lo, month_day <= hi) for lo, hi in ranges)))


# --- booleans -----------------------------------------------------------------------------------

def _is_true(o: Operand) -> ColumnElement[bool]:
    return o.expr.is_(true())


def _is_false(o: Operand) -> ColumnElement[bool]:
    return o.expr.is_(false())


# --- the registry -------------------------------------------------------------------------------

_SET = (
    Operator("is_set", "is set", "none", _is_set),
    Operator("is_not_set", "is not set", "none", negates="is_set"),
)

_TEXT = (
    Operator("eq", "is", "one", _text_eq),
    Operator("neq", "is not", "one", negates="eq"),
    Operator("in", "is any of", "many", _text_in),
    Operator("not_in", "is none of", "many", negates="in"),
    Operator("contains", "contains", "one", _text_like("%{}%")),
    Operator("not_contains", "does not contain", "one", negates="contains"),
    Operator("starts_with", "starts with", "one", _text_like("{}%")),
    Operator("is_empty", "is empty", "none", _text_is_empty),
    Operator("is_not_empty", "is not empty", "none", negates="is_empty"),
    *_SET,
)

_NUMBER = (
    Operator("eq", "is", "one", _compare("eq"), accepts_ref=True),
    Operator("neq", "is not", "one", negates="eq", accepts_ref=True),
    Operator("lt", "is less than", "one", _compare("lt"), accepts_ref=True),
    Operator("lte", "is at most", "one", _compare("lte"), accepts_ref=True),
    Operator("gt", "is more than", "one", _compare("gt"), accepts_ref=True),
    Operator("gte", "is at least", "one", _compare("gte"), accepts_ref=True),
    Operator("between", "is between", "range", _between),
    *_SET,
)

_TEMPORAL = (
    Operator("on", "is on", "one", _on),
    Operator("before", "is before", "one", _before, accepts_ref=True),
    Operator("after", "is after", "one", _after, accepts_ref=True),
    Operator("between", "is between", "range", _date_between),
    Operator("within_last", "is within the last", "period", _within_last),
    Operator("more_than_ago", "is more than", "period", _more_than_ago),
    Operator("in_next", "is within the next", "period", _in_next),
)

_BY_TYPE: tuple[tuple[FieldType, tuple[Operator, ...]], ...] = (
        ("text", _TEXT),
        ("number", _NUMBER),
        ("money", _NUMBER),
        ("date", (*_TEMPORAL,
                  Operator("anniversary_in_next", "has its anniversary within the next", "days",
                           _anniversary_in_next),
                  *_SET)),
        ("datetime", (*_TEMPORAL, *_SET)),
        ("boolean", (Operator("is_true", "is yes", "none", _is_true),
                     Operator("is_false", "is no", "none", _is_false), *_SET)),
        ("enum", (Operator("eq", "is", "one", _compare("eq")),
                  Operator("neq", "is not", "one", negates="eq"),
                  Operator("in", "is any of", "many", _enum_in),
                  Operator("not_in", "is none of", "many", negates="in"),
                  *_SET)),
)
OPERATORS: dict[FieldType, dict[str, Operator]] = {
    kind: {op.name: op for op in ops} for kind, ops in _BY_TYPE
}

# Custom JSON dates are ISO text; the anniversary operator needs a real date column.
CUSTOM_DATE_EXCLUDED = ("anniversary_in_next",)

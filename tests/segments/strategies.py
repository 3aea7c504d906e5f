"""Random rule documents drawn from the field and operator registries, with bounded depth."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from crm_segments.models.tags import TAG_SOURCES
from crm_segments.segments.fields import (
    CUSTOM_TYPES,
    PROFILE_FIELDS,
    RFM_FIELDS,
    SOURCES,
    Field,
)
from crm_segments.segments.operators import CUSTOM_DATE_EXCLUDED, OPERATORS
from crm_segments.segments.periods import UNITS
from crm_segments.segments.rules import COUNT_FIELD

from .world import EDGE_PERIODS, SEGMENTS, TAG_NAMES

RULE_TEXTS = ["Ontario", "ONT", "ario", "quebec", "%", "_", "a_b", "On%", "Ébec", "ébec", " ", "x/y",
              "nova scotia", "Roofing", "sku", "SKU-1"]
RULE_NUMBERS = [0, 1, 2, 2.5, 5, 5.5, 10, -1]
RULE_MONEY = ["0", "10.1", "20.20", "15.15", "30.30", 1000, 0.1]
RULE_DATES = ["2024-03-15", "2024-03-01", "2024-02-29", "2024-02-28", "2023-12-31", "2000-02-29",
              "1990-03-15", "2023-12-28", "2023-02-27", "2024-03-14", "2023-12-27"]
RULE_PERIODS = [0, 1, 2, 7, 14, 30, 365]
# Mostly periods whose edges the world puts data on (and a microsecond either side).
PERIODS = [*EDGE_PERIODS, (0, "days"), (365, "days"), (3, "weeks")]
CUSTOM_KEYS = {"number": ["pets"], "text": ["nick", "pets"], "boolean": ["vip"], "date": ["since"]}


def _scalar(field: Field) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == "text":
        return st.sampled_from(RULE_TEXTS)
    if kind == "enum":
        return st.sampled_from(field.choices)
    if kind == "number":
        return st.sampled_from(RULE_NUMBERS if field.name != "count" else [0, 1, 2, 3])
    if kind == "money":
        return st.sampled_from(RULE_MONEY)
    return st.sampled_from(RULE_DATES)


@st.composite
def comparison(draw: Any, field: Field, *, with_unset: bool = True,
               parent_fields: tuple[Field, ...] = ()) -> dict[str, Any]:
    ops = [op for op in OPERATORS[field.type].values()
           if (with_unset or op.value_kind != "none")
           and not (field.custom_key and op.name in CUSTOM_DATE_EXCLUDED)]
    op = draw(st.sampled_from(ops))
    doc: dict[str, Any] = {"op": op.name}
    family = {"money": "number"}.get(field.type, field.type)
    partners = [p for p in parent_fields
                if {"money": "number"}.get(p.type, p.type) == family and p.via is None]
    if op.accepts_ref and partners and not field.custom_key and draw(st.booleans()):
        doc["ref"] = "parent." + draw(st.sampled_from(partners)).name
        return doc
    if op.value_kind == "one":
        doc["value"] = draw(_scalar(field))
    elif op.value_kind == "many":
        doc["value"] = draw(st.lists(_scalar(field), min_size=1, max_size=3))
    elif op.value_kind == "range":
        pair = draw(st.lists(_scalar(field), min_size=2, max_size=2))
        doc["value"] = sorted(pair, key=lambda v: float(v) if field.type in ("number", "money") else v)
    elif op.value_kind == "period":
        doc["value"], doc["unit"] = draw(st.sampled_from(PERIODS))
    elif op.value_kind == "days":
        doc["value"] = draw(st.sampled_from([0, 1, 2, 3, 14, 60, 364, 365]))
    return doc


def _fields(scope: str) -> tuple[Field, ...]:
    if scope == "profile":
        return (*PROFILE_FIELDS, *RFM_FIELDS)
    return SOURCES[scope].fields


@st.composite
def field_condition(draw: Any, scope: str, parent: str | None) -> dict[str, Any]:
    if scope == "profile" and draw(st.integers(0, 5)) == 0:
        kind = draw(st.sampled_from(CUSTOM_TYPES))
        key = draw(st.sampled_from(CUSTOM_KEYS[kind]))
        field = Field(f"custom.{key}", key, kind, "custom_attributes", custom_key=key)
        return {"field": field.name, "type": kind, **draw(comparison(field))}
    fields = _fields(scope)
    kind = draw(st.sampled_from(sorted({f.type for f in fields})))  # every type equally often
    field = draw(st.sampled_from([f for f in fields if f.type == kind]))
    parent_fields = _fields(parent) if parent is not None else ()
    return {"field": field.name, **draw(comparison(field, parent_fields=parent_fields))}


@st.composite
def tag_condition(draw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "tags": draw(st.lists(st.sampled_from([*TAG_NAMES, "vip", "unknown"]), min_size=1, max_size=3)),
        "match": draw(st.sampled_from(["any", "all", "none"])),
    }
    if draw(st.booleans()):
        doc["added_within"] = {"value": draw(st.sampled_from(RULE_PERIODS)),
                               "unit": draw(st.sampled_from(UNITS))}
    if draw(st.integers(0, 3)) == 0:
        doc["source"] = draw(st.sampled_from(TAG_SOURCES))
    return doc


@st.composite
def records_condition(draw: Any, scope: str, depth: int) -> dict[str, Any]:
    name = draw(st.sampled_from(list(SOURCES)))
    source = SOURCES[name]
    doc: dict[str, Any] = {"records": name}
    if draw(st.booleans()):
        doc["where"] = draw(rule(name, scope, depth - 1))
    if draw(st.integers(0, 3)) == 0:
        doc["within"] = {"value": draw(st.sampled_from(RULE_PERIODS)), "unit": draw(st.sampled_from(UNITS))}
        dates = [f.name for f in source.fields if f.type in ("date", "datetime")]
        if draw(st.booleans()):  # counted from a chosen date, not the source's default
            doc["within"]["date"] = draw(st.sampled_from(dates))
    measures = ["exists", "count", "first", "last"] + (["sum", "avg"] if source.amount_field else [])
    measure = draw(st.sampled_from(measures))
    if measure == "exists":
        doc["exists"] = draw(st.booleans())
    elif measure == "count":
        doc["count"] = draw(comparison(COUNT_FIELD, with_unset=False))
    else:
        wanted = ("money",) if measure in ("sum", "avg") else ("date", "datetime")
        field = draw(st.sampled_from([f for f in source.fields if f.type in wanted]))
        doc[measure] = {"field": field.name, **draw(comparison(field, with_unset=False))}
    return doc


@st.composite
def rule(draw: Any, scope: str = "profile", parent: str | None = None, depth: int = 3,
         record_root: bool = False) -> dict[str, Any]:
    """A rule in ``scope``; ``record_root``: the top of a record rule, where ``profile`` nodes go."""
    has_tags = scope == "profile" or SOURCES[scope].has_tags
    kinds = ["field"] * 4 + ["tags"] * has_tags + ["segment"] * (scope == "profile")
    if depth > 0:
        kinds += ["group", "group", "not", "records", "records"] + ["profile"] * 2 * record_root
    kind = draw(st.sampled_from(kinds))
    if kind == "field":
        return draw(field_condition(scope, parent))
    if kind == "tags":
        return draw(tag_condition())
    if kind == "segment":
        return {"segment": draw(st.sampled_from([*SEGMENTS, *SEGMENTS.values(), 3, "missing"]))}
    if kind == "profile":
        return {"profile": draw(rule("profile", None, depth - 1))}
    if kind == "not":
        return {"not": draw(rule(scope, parent, depth - 1, record_root))}
    if kind == "records":
        return draw(records_condition(scope, depth))
    children = draw(st.lists(rule(scope, parent, depth - 1, record_root), min_size=1, max_size=3))
    return {draw(st.sampled_from(["all", "any"])): children}

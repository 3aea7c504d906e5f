"""What the visual rule builder may offer, as JSON: fields, types, operators, labels and choices."""

from __future__ import annotations

from typing import Any

from crm_segments.models.tags import TAG_SOURCES
from crm_segments.segments.fields import (
    CUSTOM_PREFIX,
    CUSTOM_TYPES,
    PROFILE_FIELDS,
    RECORD_ROOTS,
    RFM_FIELDS,
    SOURCES,
    Field,
)
from crm_segments.segments.operators import OPERATORS, UNITS
from crm_segments.segments.rules import window_dates


def rule_metadata() -> dict[str, Any]:
    """Fields, types, operators, labels and choices as JSON for the visual rule builder."""
    def field_json(f: Field) -> dict[str, Any]:
        data: dict[str, Any] = {"name": f.name, "label": f.label, "type": f.type}
        if f.choices:
            data["choices"] = list(f.choices)
        if f.group:
            data["group"] = f.group
        return data

    return {
        "types": {
            kind: [
                {"name": op.name, "label": op.label, "value": op.value_kind, "ref": op.accepts_ref}
                for op in ops.values()
            ]
            for kind, ops in OPERATORS.items()
        },
        "units": list(UNITS),
        "profile": {
            "fields": [field_json(f) for f in (*PROFILE_FIELDS, *RFM_FIELDS)],
            "custom": {"prefix": CUSTOM_PREFIX, "types": list(CUSTOM_TYPES)},
        },
        "sources": [
            {
                "name": s.name, "label": s.label, "singular": s.singular,
                "fields": [field_json(f) for f in s.fields],
                "date_field": s.date_field, "window_dates": list(window_dates(s)),
                "amount_field": s.amount_field, "tags": s.has_tags,
            }
            for s in SOURCES.values()
        ],
        "record_roots": dict(RECORD_ROOTS),
        "measures": ["exists", "count", "sum", "avg", "first", "last"],
        "tags": {"match": ["any", "all", "none"], "sources": list(TAG_SOURCES)},
    }

"""The schemas agree with the models: defaults, string sizes and every writable column."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import String

from crm_segments.records import KINDS

# Set by the product itself (consent changes, bounces) or not part of the data pushed in.
DERIVED = {"email_consent_at", "email_consent_source", "sms_consent_at", "sms_consent_source", "owner_id",
           "email_bounced_at"}


@pytest.mark.parametrize("name", list(KINDS))
def test_create_schema_defaults_match_the_column_defaults(name: str) -> None:
    kind = KINDS[name]
    columns = kind.model.__table__.columns
    for field, info in kind.create_schema.model_fields.items():
        if field not in columns or info.is_required() or info.default is None:
            continue
        default: Any = columns[field].default
        assert default is not None and default.arg == info.default, f"{name}.{field}"


@pytest.mark.parametrize("name", list(KINDS))
def test_string_limits_fit_the_columns(name: str) -> None:
    kind = KINDS[name]
    columns = kind.model.__table__.columns
    schema = kind.create_schema.model_json_schema()["properties"]
    for field, prop in schema.items():
        if field in columns and isinstance(columns[field].type, String) and columns[field].type.length:
            variants = prop.get("anyOf", [prop])
            limits = [v["maxLength"] for v in variants if "maxLength" in v]
            if field in ("phone", "country", "currency", "gender", "income_band", "education",
                         "family_status", "lifecycle_status", "status", "stage", "priority"):
                continue  # checked by their validators: E.164, ISO codes, enums
            assert limits and limits[0] <= columns[field].type.length, f"{name}.{field}"


@pytest.mark.parametrize("name", list(KINDS))
def test_every_writable_column_is_in_the_create_schema(name: str) -> None:
    kind = KINDS[name]
    writable = {c.name for c in kind.model.__table__.columns
                if c.name not in ("id", "created_at", "updated_at") and c.name not in DERIVED}
    assert writable <= set(kind.create_schema.model_fields), name

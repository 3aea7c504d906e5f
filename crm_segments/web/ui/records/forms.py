"""HTML forms for profiles and records, built from the API's own input schemas.

The fields, their kinds, choices and limits come from the create schema's JSON schema, and what a form
sends is turned back into the API's input (strings pydantic reads the same way as JSON) and written
by ``crud``: one validation, the same messages, the same signals to segments and workflows.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.kernel.json_text import parse_json
from crm_segments.models import Product

# Alternatives to a field the form shows (the API's keys), and what the record services stamp
# themselves when the status changes; consent has its own form on the profile page.
NOT_IN_FORMS = frozenset({
    "profile_id", "profile_external_id", "quote_external_id", "owner_email", "lines",
    "email_consent", "sms_consent", "sent_at", "decided_at", "started_at", "finished_at",
    "closed_at", "opened_at",
})
LINE_FIELDS = ("description", "product_sku", "quantity", "unit_price")
BLANK_LINES = 3  # empty line rows offered below the existing lines


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    widget: str  # text, number, money, date, datetime, select, list, json, textarea
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()  # (value, label) for a select
    max_length: int | None = None
    help: str = ""


def _labelled(name: str) -> str:
    return name.replace("_", " ").capitalize().replace(" id", "")


def form_fields(schema: type[BaseModel], *, choices: Mapping[str, Sequence[tuple[str, str]]] = {},
                labels: Mapping[str, str] = {}) -> list[FormField]:
    """The form's fields, in the schema's order; ``choices`` makes a field a select (ids of rows)."""
    doc = schema.model_json_schema()
    required = set(doc.get("required", ()))
    fields: list[FormField] = []
    for name, prop in doc["properties"].items():
        if name in NOT_IN_FORMS:
            continue
        kinds = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
        main = kinds[0] if kinds else prop
        types = {p.get("type") for p in kinds}
        options: tuple[tuple[str, str], ...] = ()
        if name in choices:
            widget, options = "select", tuple(choices[name])
        elif "enum" in main:
            widget, options = "select", tuple((v, v.replace("_", " ")) for v in main["enum"])
        elif main.get("format") == "date":
            widget = "date"
        elif main.get("format") == "date-time":
            widget = "datetime"
        elif types == {"number", "string"}:
            widget = "money"
        elif "integer" in types:
            widget = "number"
        elif "array" in types:
            widget = "list"
        elif "object" in types:
            widget = "json"
        elif "maxLength" not in main and "format" not in main and main.get("type") == "string" \
                and "description" not in main:
            widget = "textarea"  # free text without a column size (a ticket's body)
        else:
            widget = "text"
        fields.append(FormField(
            name=name, label=labels.get(name, _labelled(name)), widget=widget, required=name in required,
            choices=options, max_length=main.get("maxLength"),
            help=str(prop.get("description") or main.get("description") or ""),
        ))
    return fields


def shown_value(field: FormField, value: Any) -> str:
    """A stored value as the form's input shows it."""
    if value is None:
        return ""
    if field.widget == "datetime" and isinstance(value, dt.datetime):
        stored = value if value.tzinfo is None else value.astimezone(dt.UTC)
        return stored.strftime("%Y-%m-%dT%H:%M")
    if field.widget == "list":
        return ", ".join(str(item) for item in value)
    if field.widget == "json":
        return json.dumps(value, indent=2, sort_keys=True)
    if isinstance(value, bool):
        return "1" if value else ""
    return str(value)


def form_input(fields: Sequence[FormField], form: Mapping[str, str], *,
               existing: Any = None) -> dict[str, Any]:
    """The API input a submitted form stands for. A blank input leaves a new record's default, and
    clears an existing record's value only when it had one (so an edit sends what changed)."""
    data: dict[str, Any] = {}
    errors: list[FieldError] = []
    for field in fields:
        raw = form.get(field.name, "").strip()
        if not raw:
            if existing is not None and getattr(existing, field.name, None) not in (None, [], {}):
                data[field.name] = None
            continue
        if field.widget == "datetime":
            data[field.name] = f"{raw}:00+00:00" if len(raw) == 16 else raw  # the form's times are UTC
        elif field.widget == "list":
            data[field.name] = [item.strip() for item in raw.split(",") if item.strip()]
        elif field.widget == "json":
            try:
                data[field.name] = parse_json(raw)
            except ValueError as exc:
                errors.append(FieldError(field.name, f"is not valid JSON: {exc}"))
        else:
            data[field.name] = raw
    if errors:
        raise ValidationFailed(errors)
    return data


def line_rows(form: Mapping[str, str]) -> list[dict[str, str]]:
    """The line rows of a submitted form, in order, blank rows left out."""
    indexes = sorted({int(key.split("-")[1]) for key in form
                      if key.startswith("lines-") and key.split("-")[1].isdigit()})
    rows = [{name: form.get(f"lines-{i}-{name}", "").strip() for name in LINE_FIELDS} for i in indexes]
    return [row for row in rows if any(row.values())]


def lines_input(rows: Sequence[Mapping[str, str]]) -> list[dict[str, Any]]:
    return [{name: value for name, value in row.items() if value} for row in rows]


def stored_lines(session: Session, record: Any) -> list[dict[str, str]]:
    """A record's lines as line rows (money and quantities as stored, products by SKU)."""
    lines = list(getattr(record, "lines", []))
    ids = {line.product_id for line in lines if line.product_id is not None}
    skus = {id: sku for id, sku in session.execute(select(Product.id, Product.sku)
                                                   .where(Product.id.in_(ids)))} if ids else {}
    return [{"description": line.description or "", "product_sku": skus.get(line.product_id) or "",
             "quantity": str(line.quantity), "unit_price": str(line.unit_price)} for line in lines]


def errors_by_field(errors: Sequence[FieldError]) -> dict[str, list[str]]:
    """Messages per input name; a line's ``lines[2].quantity`` becomes ``lines-2-quantity``."""
    found: dict[str, list[str]] = {}
    for error in errors:
        name = error.field
        if name.startswith("lines[") and "]." in name:
            index, _, rest = name.removeprefix("lines[").partition("].")
            name = f"lines-{index}-{rest}"
        found.setdefault(name, []).append(error.message)
    return found

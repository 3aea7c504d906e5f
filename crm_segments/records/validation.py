"""Turn pydantic validation errors into FieldErrors that name the field (and item or line)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from crm_segments.kernel.errors import FieldError, ValidationFailed

M = TypeVar("M", bound=BaseModel)


def location(loc: Sequence[int | str]) -> str:
    """("lines", 2, "quantity") -> "lines[2].quantity"."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _message(error: Any) -> str:
    if error["input"] is None and error["type"] not in ("missing", "extra_forbidden"):
        return "must not be empty"
    if error["type"] == "missing":
        return "is required"
    if error["type"] == "extra_forbidden":
        return "unknown field"
    return str(error["msg"])


def field_errors(exc: ValidationError, *, prefix: str = "", row: int | None = None) -> list[FieldError]:
    return [
        FieldError(prefix + (location(e["loc"]) or "body"), _message(e), row=row) for e in exc.errors()
    ]


def validate(schema: type[M], data: Any, *, prefix: str = "") -> M:
    """Validate ``data`` (a mapping) against ``schema`` or raise ValidationFailed naming each field."""
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError(prefix.rstrip(".") or "body", "must be a JSON object")])
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc, prefix=prefix)) from None

"""Reading a list page's keyset cursor (``after`` / ``before``) from the query string."""

from __future__ import annotations

from flask import request

from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.kernel.keyset import MAX_CURSOR

MAX_CURSOR_DIGITS = len(str(MAX_CURSOR))


def cursor_arg(name: str, *, noun: str) -> int | None:
    """The id in ``?name=``, or None when absent; anything but a whole number is refused naming ``name``."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_CURSOR_DIGITS or int(raw) > MAX_CURSOR:
        raise ValidationFailed([FieldError(name, f"must be a {noun} id (a whole number up to {MAX_CURSOR})")])
    return int(raw)

"""Ids that people type or pages send (a form field, a query parameter, a webhook's custom argument),
read as the whole numbers a row's key can hold.

Every key is an integer column, 32 bits on PostgreSQL: a larger number names no row, and handed to
the store it is an error there (SQLite cannot bind a number past 64 bits, PostgreSQL refuses one
past 32 in a key column) rather than "not found".
"""

from __future__ import annotations

MAX_ID = 2**31 - 1
_MAX_DIGITS = len(str(MAX_ID))


def parse_id(text: object) -> int | None:
    """The id ``text`` spells: ASCII digits for a number from 1 to MAX_ID, spaces around allowed.
    Anything else (another kind of digit, a sign, zero, a larger number, not text) is None."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_DIGITS:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ID else None

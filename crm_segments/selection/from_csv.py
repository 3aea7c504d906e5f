"""A CSV of profile emails or external ids as a bulk-tagging selection, checked line by line.

The first line names the columns; one of them must be ``email`` or ``external_id`` (others are
ignored, so an exported list can be fed back). Every malformed line and every line that matches
no profile is reported with its line number, and then the whole file is refused: nothing is
tagged unless every line is good.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments import email_addresses
from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.kernel.sql import line_values
from crm_segments.models import Profile
from crm_segments.selection.targets import Selection

KEY_COLUMNS = ("email", "external_id")
MAX_ROWS = 100_000
MAX_REPORTED = 100  # errors listed; the message says how many more there were
EXTERNAL_ID_MAX = 64


@dataclass(frozen=True)
class CsvKeys:
    column: str  # email or external_id
    rows: list[tuple[int, str]]  # (line number, normalized value) of the well-formed lines
    errors: list[FieldError]  # the malformed lines


def read_keys(content: bytes | str) -> CsvKeys:
    """Parse the file; a file that cannot be read at all raises, malformed lines are listed in ``errors``."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationFailed([FieldError("file", f"is not UTF-8 text ({exc.reason})")]) from None
    reader = csv.reader(io.StringIO(content.lstrip("\ufeff")))
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        column = _key_column(header)
        rows, errors = _rows(reader, header.index(column), column)
    except csv.Error as exc:
        error = FieldError("file", f"is not valid CSV: {exc}", row=reader.line_num)
        raise ValidationFailed([error]) from None
    if not rows and not errors:
        raise ValidationFailed([FieldError("file", "has no rows below the header")])
    return CsvKeys(column, rows, errors)


def _key_column(header: list[str]) -> str:
    present = [c for c in KEY_COLUMNS if c in header]
    if len(present) != 1:
        found = ", ".join(header) if any(header) else "nothing"
        problem = "both" if present else "neither"
        raise ValidationFailed([FieldError(
            "header", f"needs exactly one column named email or external_id ({problem} found; "
                      f"the first line has {found})", row=1)])
    return present[0]


def _rows(reader: Any, index: int, column: str) -> tuple[list[tuple[int, str]], list[FieldError]]:
    rows: list[tuple[int, str]] = []
    errors: list[FieldError] = []
    previous = 1
    for cells in reader:
        line, previous = previous + 1, reader.line_num  # a quoted cell may span lines
        if not any(cell.strip() for cell in cells):
            continue
        if len(rows) + len(errors) >= MAX_ROWS:
            raise ValidationFailed([FieldError("file", f"has more than {MAX_ROWS:,} rows; split it")])
        value = cells[index].strip() if index < len(cells) else ""
        try:
            rows.append((line, _normalized(column, value)))
        except ValueError as exc:
            errors.append(FieldError(column, str(exc), row=line))
    return rows, errors


def _normalized(column: str, value: str) -> str:
    if not value:
        raise ValueError("is empty")
    if column == "external_id":
        if len(value) > EXTERNAL_ID_MAX:
            raise ValueError(f"is longer than {EXTERNAL_ID_MAX} characters")
        return value
    try:
        return email_addresses.lookup_key(value)  # as stored: an IDN domain in punycode
    except email_addresses.AddressRefused as exc:
        raise ValueError(f"{value!r} is not a valid email address: {exc}") from None


def _refused(errors: list[FieldError], total: int | None = None) -> ValidationFailed:
    total = len(errors) if total is None else total
    shown = sorted(errors, key=lambda e: e.row or 0)[:MAX_REPORTED]
    if total > len(shown):
        shown.append(FieldError("file", f"and {total - len(shown):,} more lines with problems; "
                                        "nothing was applied"))
    return ValidationFailed(shown)


def csv_selection(*, session: Session, content: bytes | str, filename: str = "") -> Selection:
    """The profiles a CSV names; refused (ValidationFailed by line) unless every line matches one.

    Malformed lines and lines that match no profile are reported together, in line order.
    """
    keys = read_keys(content)
    profile_key = Profile.email if keys.column == "email" else Profile.external_id
    values = line_values(session, keys.rows)
    no_match = ~select(Profile.id).where(profile_key == values.c.value).exists()
    unmatched = session.execute(
        select(values.c.line, values.c.value, func.count().over()).where(no_match)
        .order_by(values.c.line).limit(MAX_REPORTED)
    ).all()
    if unmatched or keys.errors:
        errors = keys.errors + [FieldError(keys.column, f"no profile has {keys.column} {value!r}", row=line)
                                for line, value, _total in unmatched]
        raise _refused(errors, total=len(keys.errors) + (unmatched[0][2] if unmatched else 0))
    matched = line_values(session, keys.rows)
    ids = select(Profile.id).join(matched, profile_key == matched.c.value).distinct()
    name = f" {filename}" if filename else ""
    description = f"CSV{name}: {len(keys.rows):,} rows by {keys.column}"
    return Selection("profile", "csv", ids, description, {"column": keys.column, "rows": len(keys.rows),
                                                          "filename": filename})

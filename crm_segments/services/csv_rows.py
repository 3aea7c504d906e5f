"""Read a CSV file into rows of named cells, reporting every problem with its line and column.

The first line names the columns. UTF-8 with or without a byte-order mark; blank lines are skipped;
an empty cell means "not given" (the default for a new row, unchanged for an existing one).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import IO, Any

from crm_segments.services.errors import FieldError, ValidationFailed

HEADER_LINE = 1
LIST_COLUMNS = frozenset({"interests"})          # "golf; sailing" -> ["golf", "sailing"]
JSON_COLUMNS = frozenset({"custom_attributes"})  # a JSON object


@dataclass
class CsvRow:
    line: int
    cells: dict[str, Any]


def read_rows(stream: IO[bytes] | IO[str], *, columns: Collection[str],
              required: Collection[str] = ()) -> tuple[list[CsvRow], list[FieldError]]:
    """Rows with their non-empty cells, and the errors found. Header errors stop the reading."""
    text = _text(stream)
    reader = csv.reader(text)
    try:
        return _read(reader, columns, required)
    except UnicodeDecodeError as exc:
        raise ValidationFailed([FieldError("file", f"is not UTF-8 text ({exc.reason})")]) from None
    except csv.Error as exc:
        error = FieldError("file", f"is not valid CSV: {exc}", row=reader.line_num)
        raise ValidationFailed([error]) from None
    finally:
        if isinstance(text, io.TextIOWrapper) and text is not stream:
            text.detach()  # leave the caller's binary stream open


def _read(reader: Any, columns: Collection[str],
          required: Collection[str]) -> tuple[list[CsvRow], list[FieldError]]:
    header = [name.replace("\ufeff", "").strip() for name in next(reader, [])]
    errors = _check_header(header, columns, required)
    if errors:
        return [], errors
    rows: list[CsvRow] = []
    previous = reader.line_num
    for cells in reader:
        line, previous = previous + 1, reader.line_num  # a quoted cell may span several lines
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            errors.append(FieldError("row", f"has {len(cells)} cells; the header has {len(header)}",
                                     row=line))
            continue
        row = CsvRow(line, {})
        for name, cell in zip(header, cells, strict=True):
            if cell.strip():
                row.cells[name] = _convert(name, cell.strip(), line, errors)
        rows.append(row)
    return rows, errors


def _text(stream: IO[bytes] | IO[str]) -> IO[str]:
    if isinstance(stream.read(0), str):
        return stream  # type: ignore[return-value]
    # "utf-8-sig" drops a byte-order mark (Excel writes one) and reads plain UTF-8 alike.
    binary: Any = stream
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")


def _check_header(header: list[str], columns: Collection[str], required: Collection[str]) -> list[FieldError]:
    if not any(header):
        return [FieldError("header", "the file is empty; the first line must name the columns",
                           row=HEADER_LINE)]
    errors = []
    known = ", ".join(columns)
    for position, name in enumerate(header):
        if name not in columns:
            label = name or f"column {position + 1}"
            errors.append(FieldError(label, f"unknown column; known columns: {known}", row=HEADER_LINE))
        elif header.index(name) != position:
            errors.append(FieldError(name, "column appears twice", row=HEADER_LINE))
    errors += [FieldError(name, "required column is missing", row=HEADER_LINE)
               for name in required if name not in header]
    return errors


def _convert(name: str, cell: str, line: int, errors: list[FieldError]) -> Any:
    if name in LIST_COLUMNS:
        return [item.strip() for item in cell.split(";") if item.strip()]
    if name in JSON_COLUMNS:
        try:
            return json.loads(cell)
        except ValueError as exc:
            errors.append(FieldError(name, f"is not valid JSON: {exc}", row=line))
    return cell

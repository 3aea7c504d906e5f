"""Read a CSV file one row at a time into rows of named cells, each with the problems found in it.

The first line names the columns. UTF-8 with or without a byte-order mark; blank lines are skipped;
an empty cell means "not given" (the default for a new row, unchanged for an existing one).

The file is read as a stream: only the row being read is held in memory, whatever the file's size.
Bytes that are not UTF-8 and NUL characters (which neither store accepts in text) are reported on
the cell that holds them, with its line, like any other bad value.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.kernel.json_text import parse_json

HEADER_LINE = 1
LIST_COLUMNS = frozenset({"interests"})          # "golf; sailing" -> ["golf", "sailing"]
JSON_COLUMNS = frozenset({"custom_attributes"})  # a JSON object
# Undecodable bytes are read as lone surrogates ("surrogateescape"), so one search finds them and
# NULs alike; valid UTF-8 never decodes to a surrogate.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass
class CsvRow:
    line: int
    cells: dict[str, Any]
    errors: list[FieldError] = field(default_factory=list)
    usable: bool = True  # False: the row's shape is wrong, its cells are not worth validating


class CsvReader:
    """The header is read and checked when the reader is made (``ValidationFailed`` if it is
    wrong); ``rows()`` then reads the rest of the stream lazily."""

    def __init__(self, stream: IO[bytes] | IO[str], *, columns: Collection[str],
                 required: Collection[str] = ()) -> None:
        self._stream = stream
        self._text = _text(stream)
        self._reader = csv.reader(self._text)
        try:
            header = [name.replace("\ufeff", "").strip() for name in self._next() or []]
            errors = _check_header(header, columns, required)
        except ValidationFailed:
            self.close()
            raise
        if errors:
            self.close()
            raise ValidationFailed(errors)
        self.header = header
        self._converted = [name for name in header if name in LIST_COLUMNS or name in JSON_COLUMNS]

    def rows(self) -> Iterator[CsvRow]:
        """Each non-blank row after the header, in file order; the stream is released at the end."""
        try:
            previous = self._reader.line_num
            while (cells := self._next()) is not None:
                line, previous = previous + 1, self._reader.line_num  # a quoted cell may span lines
                joined = "".join(cells)
                if not joined.strip():  # blank: no cell holds anything but white space
                    continue
                yield self._row(line, cells, joined)
        finally:
            self.close()

    def close(self) -> None:
        if isinstance(self._text, io.TextIOWrapper) and self._text is not self._stream:
            self._text.detach()  # leave the caller's binary stream open
            self._text = self._stream  # type: ignore[assignment]

    def _next(self) -> list[str] | None:
        try:
            return next(self._reader, None)
        except csv.Error as exc:
            error = FieldError("file", f"is not valid CSV: {exc}", row=self._reader.line_num)
            raise ValidationFailed([error]) from None

    def _row(self, line: int, cells: list[str], joined: str) -> CsvRow:
        if len(cells) != len(self.header):
            error = FieldError("row", f"has {len(cells)} cells; the header has {len(self.header)}", row=line)
            return CsvRow(line, {}, [error], usable=False)
        unstorable = UNSTORABLE.search(joined) is not None
        if not unstorable:  # the usual row, the same as the loop below but for a few µs less a row
            pairs = zip(self.header, cells, strict=True)
            row = CsvRow(line, {name: value for name, cell in pairs if (value := cell.strip())})
            for name in self._converted:
                if name in row.cells:
                    row.cells[name] = _convert(name, row.cells[name], line, row.errors)
            return row
        row = CsvRow(line, {})
        for name, cell in zip(self.header, cells, strict=True):
            value = cell.strip()
            if not value:
                continue
            if unstorable and (problem := _unstorable(value)):
                row.errors.append(FieldError(name, problem, row=line))
                row.cells[name] = None
                continue
            row.cells[name] = _convert(name, value, line, row.errors)
        return row


def read_rows(stream: IO[bytes] | IO[str], *, columns: Collection[str],
              required: Collection[str] = ()) -> Iterator[CsvRow]:
    """The file's rows one by one (see ``CsvReader``); a bad header raises ``ValidationFailed``."""
    return CsvReader(stream, columns=columns, required=required).rows()


def _text(stream: IO[bytes] | IO[str]) -> IO[str]:
    if isinstance(stream.read(0), str):
        return stream  # type: ignore[return-value]
    # "utf-8-sig" drops a byte-order mark (Excel writes one) and reads plain UTF-8 alike.
    binary: Any = stream
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")


def _unstorable(value: str) -> str | None:
    found = UNSTORABLE.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character (byte 0), which cannot be stored; remove it from the file"
    return "is not UTF-8 text; save the file as UTF-8"


def _check_header(header: list[str], columns: Collection[str], required: Collection[str]) -> list[FieldError]:
    if not any(header):
        return [FieldError("header", "the file is empty; the first line must name the columns",
                           row=HEADER_LINE)]
    errors = []
    if problem := _unstorable("".join(header)):
        return [FieldError("header", problem, row=HEADER_LINE)]
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
            value = parse_json(cell)
        except ValueError as exc:
            errors.append(FieldError(name, f"is not valid JSON: {exc}", row=line))
            return None
        if _json_unstorable(value):  # "\u0000" or a lone "\ud800" escape: refused by both stores
            errors.append(FieldError(name, "contains a NUL character or an unpaired surrogate escape "
                                           "(\\u0000, \\ud800 ...), which cannot be stored", row=line))
            return None
        return value
    return cell


def _json_unstorable(value: Any) -> bool:
    if isinstance(value, str):
        return UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_json_unstorable(k) or _json_unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_json_unstorable(item) for item in value)
    return False

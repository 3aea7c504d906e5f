"""The read-ahead thread: chunks in file order, reading errors where they happened, and it ends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.records.csv_rows import CsvRow
from crm_segments.records.read_ahead import ReadAhead


def _check(row: CsvRow) -> tuple[dict[str, Any] | None, list[FieldError]]:
    return {"n": row.cells["n"]}, []


def _rows(count: int, *, fail_at: int | None = None, closed: list[bool] | None = None) -> Iterator[CsvRow]:
    try:
        for line in range(2, count + 2):
            if line == fail_at:
                raise ValidationFailed([FieldError("file", "is not valid CSV", row=line)])
            yield CsvRow(line, {"n": line}, usable=line % 3 != 0)
    finally:
        if closed is not None:
            closed.append(True)


def test_chunks_come_in_file_order_with_the_usable_rows_checked() -> None:
    with ReadAhead(_rows(10), size=4, check=_check) as chunks:
        got = [([row.line for row in chunk.rows], sorted(chunk.checked)) for chunk in chunks]
    assert got == [([2, 3, 4, 5], [2, 4, 5]), ([6, 7, 8, 9], [7, 8]), ([10, 11], [10, 11])]


def test_a_reading_error_arrives_after_the_chunks_before_it() -> None:
    seen = []
    with pytest.raises(ValidationFailed), ReadAhead(_rows(10, fail_at=8), size=3, check=_check) as chunks:
        for chunk in chunks:
            seen.append(chunk.rows[0].line)
    assert seen == [2, 5]  # rows 2-4 and 5-7; line 8 failed


def test_stopping_early_ends_the_thread_and_releases_the_rows() -> None:
    closed: list[bool] = []
    before = threading.active_count()
    with ReadAhead(_rows(100_000, closed=closed), size=10, check=_check) as chunks:
        for _chunk in chunks:
            break
    assert closed == [True] and threading.active_count() == before

"""Reading in a forked child: the same chunks and errors as the read-ahead thread, and it ends."""

from __future__ import annotations

import pytest

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.records.read_ahead import ReadAhead
from crm_segments.records.read_process import ReadInChild, read_ahead
from tests.records.test_read_ahead import _check, _rows


def test_chunks_come_in_file_order_with_the_usable_rows_checked() -> None:
    with ReadInChild(_rows(10), size=4, check=_check) as chunks:
        got = [([row.line for row in chunk.rows], sorted(chunk.checked)) for chunk in chunks]
    assert got == [([2, 3, 4, 5], [2, 4, 5]), ([6, 7, 8, 9], [7, 8]), ([10, 11], [10, 11])]


def test_a_reading_error_arrives_after_the_chunks_before_it() -> None:
    seen = []
    with pytest.raises(ValidationFailed) as failed, ReadInChild(_rows(10, fail_at=8), size=3,
                                                                check=_check) as chunks:
        for chunk in chunks:
            seen.append(chunk.rows[0].line)
    assert seen == [2, 5]  # rows 2-4 and 5-7; line 8 failed
    assert [(e.row, e.field) for e in failed.value.errors] == [(8, "file")]


def test_stopping_early_ends_the_child() -> None:
    reader = ReadInChild(_rows(100_000), size=10, check=_check)
    with reader as chunks:
        for _chunk in chunks:
            break
    assert reader.exitcode is not None  # ended, and waited for


def test_a_child_only_when_asked_for() -> None:
    with read_ahead(_rows(3), size=2, check=_check) as thread, \
            read_ahead(_rows(3), size=2, check=_check, in_child=True) as child:
        assert isinstance(thread, ReadAhead) and isinstance(child, ReadInChild)
        assert [c.rows for c in thread] == [c.rows for c in child]

"""Any text read as an id is either None or a whole number a key can hold, spelled by that text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from crm_segments.kernel.record_ids import MAX_ID, parse_id


@given(st.one_of(st.text(), st.integers().map(str), st.from_regex(r"\s*[0-9]{1,25}\s*", fullmatch=True)))
def test_text_is_an_id_in_range_spelled_by_it_or_none(text: str) -> None:
    chosen = parse_id(text)
    if chosen is None:
        stripped = text.strip()
        assert not (stripped.isascii() and stripped.isdigit()) or not 1 <= int(stripped) <= MAX_ID
    else:
        assert 1 <= chosen <= MAX_ID and int(text.strip()) == chosen

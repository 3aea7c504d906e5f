"""JSON text from people and clients: whatever cannot be used is a ValueError naming why."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_segments.kernel.json_text import MAX_NESTING, parse_json


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_documents_up_to_the_nesting_limit_are_read() -> None:
    document = parse_json(nested(MAX_NESTING))
    for _ in range(MAX_NESTING - 1):
        (document,) = document
    assert document == []
    assert parse_json(b'{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}


@pytest.mark.parametrize("levels", [MAX_NESTING + 1, 900, 100_000])
def test_deeper_documents_are_a_value_error_naming_the_limit(levels: int) -> None:
    with pytest.raises(ValueError, match=f"nests deeper than {MAX_NESTING} levels"):
        parse_json(nested(levels))
    with pytest.raises(ValueError, match="nests deeper"):
        parse_json('{"a": ' * levels + "1" + "}" * levels)


@pytest.mark.parametrize("text", ["{not json", "", b"\xff\xfe", '{"a": 1} trailing'])
def test_text_that_is_not_json_is_a_value_error(text: str | bytes) -> None:
    with pytest.raises(ValueError):
        parse_json(text)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                 max_size=3), max_leaves=30),
       st.integers(min_value=0, max_value=2000))
def test_any_document_wrapped_in_any_depth_is_read_or_refused_as_a_value_error(document: object,
                                                                                levels: int) -> None:
    text = "[" * levels + json.dumps(document) + "]" * levels
    try:
        read = parse_json(text)
    except ValueError as exc:
        assert "nests deeper" in str(exc) and levels + _depth(document) > MAX_NESTING
        return
    assert levels + _depth(document) <= MAX_NESTING
    for _ in range(levels):
        (read,) = read
    assert read == document


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0

"""JSON text from people and clients: whatever cannot be used is a ValueError naming why."""

from __future__ import annotations

import pytest

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

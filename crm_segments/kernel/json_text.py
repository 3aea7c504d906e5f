"""JSON text that people and clients send (a request body, an editor's field, a CSV cell), parsed so
that whatever cannot be used is a ValueError naming why, never an error of the parser itself.

``json.loads`` raises RecursionError, not ValueError, for text nested deeper than the interpreter's
recursion limit (1,000 frames), and a document nested almost that deep parses but then breaks the
recursive walks over it (the storable-text check of a request body, the renderers). So a document
may nest at most MAX_NESTING levels: deeper than any the product reads, so that the checks of what
it does read (a rule nests at most MAX_DEPTH levels, segments/rules.py) still name the field, and
well within the interpreter's limit for a walk that adds a frame a level.
"""

from __future__ import annotations

import json
from typing import Any

MAX_NESTING = 512  # arrays and objects inside one another


def parse_json(text: str | bytes) -> Any:
    """The document ``text`` holds; ValueError if it is not JSON (or not UTF-8), or nests deeper
    than MAX_NESTING."""
    try:
        document = json.loads(text)
    except RecursionError:
        raise ValueError(f"it nests deeper than {MAX_NESTING} levels") from None
    if _deeper_than(document, MAX_NESTING):
        raise ValueError(f"it nests deeper than {MAX_NESTING} levels")
    return document


def _deeper_than(document: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels (walked without recursion)."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False

"""Text no store can keep: a NUL character (PostgreSQL refuses it in text and JSON) or an unpaired
surrogate (not encodable as UTF-8). Found anywhere in a request, it is refused naming where it is."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
PROBLEM = "must not contain NUL characters or unpaired surrogates"


def has_unstorable_text(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


def unstorable_paths(value: Any, path: str = "body") -> Iterator[str]:
    """Where in a parsed JSON document a key or string cannot be stored (e.g. ``body.items[0].name``)."""
    if isinstance(value, str):
        if has_unstorable_text(value):
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            key_path = f"{path}.{key}" if isinstance(key, str) and not has_unstorable_text(key) else path
            if key_path == path:
                yield path
            else:
                yield from unstorable_paths(item, key_path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unstorable_paths(item, f"{path}[{index}]")

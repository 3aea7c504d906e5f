"""What the lists' filters share: the search box's text and length, the owner filter's "nobody"."""

from __future__ import annotations

MAX_SEARCH_LENGTH = 100
NO_OWNER = "none"  # the owner filter's value for profiles nobody looks after


def normalize_search(text: str | None) -> str:
    return " ".join((text or "").split())

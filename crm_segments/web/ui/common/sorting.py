"""Sortable list headers: each sortable column's link (ascending first, then descending) and the
``aria-sort`` state of the column the list is sorted by."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import url_for


@dataclass(frozen=True)
class SortHeader:
    url: str
    state: str  # aria-sort: ascending, descending or none
    arrow: str  # shown after the title of the sorted column


def sort_headers(endpoint: str, keys: Iterable[str], current: str, args: Mapping[str, Any],
                 **route: str) -> dict[str, SortHeader]:
    """For each sort key, the list's URL sorted by it (the filters and columns kept, the paging dropped)."""
    kept: dict[str, Any] = {**route, **{k: v for k, v in args.items()
                                        if v and k not in ("sort", "after", "before")}}
    headers = {}
    for key in keys:
        if current == key:
            headers[key] = SortHeader(url_for(endpoint, **kept, sort=f"-{key}"), "ascending", "▲")
        elif current == f"-{key}":
            headers[key] = SortHeader(url_for(endpoint, **kept, sort=key), "descending", "▼")
        else:
            headers[key] = SortHeader(url_for(endpoint, **kept, sort=key), "none", "")
    return headers

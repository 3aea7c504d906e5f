"""What each list of the UI offers a saved view: its filters, sort keys and columns.

The profiles list and one list per listed record type ("quotes", "jobs" ...), read from the registry
on each use. The first column names the row and is always shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.profiles import queries as profile_queries
from crm_segments.records.profiles import parse_profile_filter
from crm_segments.records.queries import KINDS_BY_PATH, RecordKind, parse_record_filter

PROFILES = "profiles"


@dataclass(frozen=True)
class ListShape:
    key: str                                   # "profiles", "quotes"
    title: str                                 # "Profiles", "Quotes"
    filter_keys: tuple[str, ...]               # the query-string filters
    sort_keys: tuple[str, ...]                 # sortable columns (each also "-key")
    columns: tuple[tuple[str, str], ...]       # (key, heading); the first is always shown
    check_filters: Callable[[Mapping[str, Any]], object]  # raises ValidationFailed naming bad fields

    @property
    def column_keys(self) -> tuple[str, ...]:
        return tuple(key for key, _heading in self.columns)

    def shown(self, asked: list[str] | tuple[str, ...]) -> tuple[str, ...]:
        """The columns to show for the ``asked`` keys (unknown ones dropped), in the list's order; all
        when none is asked; the first column always."""
        if not asked:
            return self.column_keys
        wanted = set(asked) | {self.column_keys[0]}
        return tuple(key for key in self.column_keys if key in wanted)


def _profiles() -> ListShape:
    return ListShape(
        PROFILES, "Profiles", profile_queries.FILTER_KEYS, tuple(profile_queries.SORT_KEYS.columns),
        (("name", "Name"), ("email", "Email"), ("company", "Company"), ("region", "Region"),
         ("lifecycle", "Lifecycle"), ("owner", "Owner"), ("tags", "Tags")),
        parse_profile_filter)


def _records(kind: RecordKind) -> ListShape:
    return ListShape(
        kind.path, kind.title, kind.filter_keys, tuple(kind.sort_keys.columns),
        (("label", kind.label_title), ("profile", "Profile"), (kind.status_key, kind.status_key.capitalize()),
         ("amount", kind.amount_title), *kind.dates, ("tags", "Tags")),
        lambda args: parse_record_filter(kind, args))


def list_shapes() -> dict[str, ListShape]:
    return {PROFILES: _profiles(), **{path: _records(kind) for path, kind in KINDS_BY_PATH.items()}}


def list_shape(key: str, *, field: str = "list") -> ListShape:
    shapes = list_shapes()
    if key not in shapes:
        raise ValidationFailed([FieldError(field, f"must be one of {', '.join(shapes)}")])
    return shapes[key]


def check_view(shape: ListShape, *, filters: Mapping[str, str], sort: str, columns: list[str]) -> None:
    """Refuse what the list cannot show: an unknown or bad filter, sort key or column."""
    errors = [FieldError(f"filters.{key}", f"unknown filter (the {shape.key} list has "
                                           f"{', '.join(shape.filter_keys)})")
              for key in filters if key not in shape.filter_keys]
    name = sort.removeprefix("-")
    if sort and name not in shape.sort_keys:
        errors.append(FieldError("sort", f"must be one of {', '.join(shape.sort_keys)}, each optionally "
                                         "with a leading - for descending order"))
    errors += [FieldError(f"columns[{i}]", f"unknown column (the {shape.key} list has "
                                           f"{', '.join(shape.column_keys)})")
               for i, key in enumerate(columns) if key not in shape.column_keys]
    if not errors:
        try:
            shape.check_filters(filters)
        except ValidationFailed as exc:
            errors += [FieldError(f"filters.{e.field}", e.message) for e in exc.errors]
    if errors:
        raise ValidationFailed(errors)

"""Check a batch of validated inputs against the database before anything is written.

One pass per batch (a single API item, a batch request or a whole CSV file): related rows named by
external id or SKU are looked up with one query per reference, unique fields are checked against
the database and within the batch, and derived values are filled in. Problems come back as a list,
so every bad item is reported and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, any_, bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from .kind import Kind, Reference, WriteContext

CHUNK = 500  # keys per IN (...) lookup: well under every backend's parameter limit


@dataclass
class Pending:
    """One item on its way to the database."""

    index: int                  # position in the request, or line in the file
    values: dict[str, Any]      # validated input (only the fields given); becomes column values
    existing: Any = None        # the row it updates (ORM object or Row), None for a new row


@dataclass
class Issue:
    index: int
    field: str
    message: str
    conflict: bool = False      # clashes with existing data rather than being malformed


def lookup(session: Session, model: type[Any], column: str, keys: Iterable[Any]) -> dict[Any, int]:
    """Map each of ``keys`` found in ``model.column`` to its row id."""
    found: dict[Any, int] = {}
    col = getattr(model, column)
    for among in key_sets(session, col, keys):
        found.update({key: row_id for key, row_id in session.execute(select(col, model.id).where(among))})
    return found


def key_sets(session: Session, column: Any, keys: Iterable[Any]) -> list[ColumnElement[bool]]:
    """Conditions "``column`` is one of ``keys``", together covering every key, none with a bound
    parameter per key beyond CHUNK.

    PostgreSQL: one condition, ``column = ANY(:keys)`` with the keys as one array typed as the
    column (so the column's index is used). Elsewhere: IN lists of at most CHUNK keys. One array
    instead of an expanding IN list also spares compiling and parsing a new statement text per
    list length (an import looked up 5,000 keys a chunk as ten 500-key statements).
    """
    keys = list(keys)
    if not keys:
        return []
    if session.get_bind().dialect.name == "postgresql":
        array = bindparam(None, keys, type_=postgresql.ARRAY(column.type))
        return [column == any_(array)]
    return [column.in_(keys[start:start + CHUNK]) for start in range(0, len(keys), CHUNK)]


def prepare(kind: Kind, *, session: Session, items: Sequence[Pending], ctx: WriteContext,
            describe: Callable[[int], str], known: dict[str, dict[Any, int]] | None = None) -> list[Issue]:
    """Resolve references, check uniqueness and derive values; return every problem found.

    ``known`` gives, for a unique field, the rows already looked up by it: value -> row id for
    every value of ``items`` that is in the database (an import finds its rows by external id).
    """
    entries = [(item.index, "", item.values, item.existing is None) for item in items]
    issues = resolve_references(session, kind.references, entries)
    if kind.children is not None:
        field = kind.children.field
        lines = [
            (item.index, f"{field}[{n}].", line, True)
            for item in items for n, line in enumerate(item.values.get(field) or ())
        ]
        issues += resolve_references(session, kind.children.references, lines)
    issues += check_unique(session, kind, items, describe, known)
    if not issues and kind.derive is not None:
        for item in items:
            kind.derive(item.values, item.existing, ctx)
    return issues


def resolve_references(
    session: Session, references: Sequence[Reference],
    entries: Sequence[tuple[int, str, dict[str, Any], bool]],
) -> list[Issue]:
    """Replace each ``key_field`` by the ``column`` id it names; entries are (index, prefix, values, new)."""
    issues: list[Issue] = []
    for ref in references:
        keys = {v[ref.key_field] for _, _, v, _ in entries if v.get(ref.key_field) is not None}
        ids = {v[ref.column] for _, _, v, _ in entries if v.get(ref.column) is not None}
        by_key = lookup(session, ref.target, ref.target_key, keys) if keys else {}
        known_ids = set(lookup(session, ref.target, "id", ids)) if ids else set()
        for index, prefix, values, new in entries:
            given_key = values.pop(ref.key_field, None)
            given_id = values.get(ref.column)
            if given_key is not None:
                if given_key not in by_key:
                    issues.append(Issue(index, prefix + ref.key_field,
                                        f"no {ref.label} with {ref.target_key} {given_key!r}"))
                elif given_id is not None and given_id != by_key[given_key]:
                    issues.append(Issue(index, prefix + ref.key_field,
                                        f"names a different {ref.label} than {ref.column}"))
                else:
                    values[ref.column] = by_key[given_key]
            elif given_id is not None and given_id not in known_ids:
                issues.append(Issue(index, prefix + ref.column, f"no {ref.label} with id {given_id}"))
            elif ref.required and given_id is None and (new or ref.column in values):
                issues.append(Issue(index, prefix + ref.column,
                                    f"{ref.column} or {ref.key_field} is required"))
    return issues


def check_unique(session: Session, kind: Kind, items: Sequence[Pending], describe: Callable[[int], str],
                 known: dict[str, dict[Any, int]] | None = None) -> list[Issue]:
    """Unique fields must not repeat within the batch nor belong to another row in the database."""
    issues: list[Issue] = []
    for field in kind.unique:
        values = {item.values[field] for item in items if item.values.get(field) is not None}
        if known is not None and field in known:
            owners = known[field]
        else:
            owners = lookup(session, kind.model, field, values) if values else {}
        seen: dict[Any, int] = {}
        for item in items:
            value = item.values.get(field)
            if value is None:
                continue
            if value in seen:
                message = f"{value!r} is repeated (also {describe(seen[value])})"
                issues.append(Issue(item.index, field, message))
                continue
            seen[value] = item.index
            owner = owners.get(value)
            own_id = item.existing.id if item.existing is not None else None
            if owner is not None and owner != own_id:
                issues.append(Issue(item.index, field,
                                    f"another {kind.label} already has {field} {value!r}", conflict=True))
    return issues

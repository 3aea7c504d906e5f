"""CSV import of profiles and of every record type, all or nothing.

Every row is validated with the API's schemas and checked against the database (references by
external id or SKU, unique fields, repeats within the file). If any row is bad nothing is written
and ``ValidationFailed`` lists every problem by line and column. Otherwise rows are written in bulk
(executemany, not one ORM object per row):

- a row whose ``external_id`` already exists updates that row, changing only its non-empty cells;
  other rows are inserted;
- ``quote_lines`` / ``job_lines`` rows replace all the lines of each quote / job they name (so a
  re-import does not duplicate lines); the quote's total and the job's amount are left as they are;
- a consent column that changes a profile's consent records the time and the source "import".

References point at rows already in the database: import categories before products, products and
profiles before quotes, quotes before jobs and quote lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session

from crm_segments.models import Job, JobLine, Quote, QuoteLine, User
from crm_segments.records import KINDS, Kind, WriteContext
from crm_segments.records.derive import complete_line
from crm_segments.records.kind import Reference
from crm_segments.records.prepare import CHUNK, Pending, prepare, resolve_references
from crm_segments.records.references import PRODUCT
from crm_segments.records.validation import field_errors
from crm_segments.schemas import JobLineImport, QuoteLineImport
from crm_segments.services.changes import profiles_changed
from crm_segments.services.csv_rows import CsvRow, read_rows
from crm_segments.services.errors import FieldError, ValidationFailed


@dataclass(frozen=True)
class LineKind:
    """Line items imported on their own, each naming its quote or job."""

    name: str
    schema: type[BaseModel]
    parent: Reference
    model: type[Any]


LINE_KINDS = {
    "quote_lines": LineKind("quote_lines", QuoteLineImport,
                            Reference("quote_id", "quote_external_id", Quote, "external_id", "quote",
                                      required=True), QuoteLine),
    "job_lines": LineKind("job_lines", JobLineImport,
                          Reference("job_id", "job_external_id", Job, "external_id", "job", required=True),
                          JobLine),
}
ANALYZE_AFTER = 1000  # rows written
IMPORT_KINDS = ("profiles", "categories", "products", "quotes", "quote_lines", "jobs", "job_lines",
                "opportunities", "tickets")


@dataclass
class ImportReport:
    kind: str
    rows: int
    created: int = 0
    updated: int = 0
    replaced: int = 0          # quotes or jobs whose lines were replaced (line imports)
    profiles_changed: int = 0

    def __str__(self) -> str:
        text = f"{self.kind}: {self.rows} rows, {self.created} created, {self.updated} updated"
        if self.replaced:
            parent = self.kind.split("_")[0] + ("s" if self.replaced != 1 else "")
            text += f" (replacing the lines of {self.replaced} {parent})"
        return text


def columns_of(kind: str) -> list[str]:
    """The column names a file of ``kind`` may have: the fields of its schema."""
    if kind in LINE_KINDS:
        return list(LINE_KINDS[kind].schema.model_fields)
    record = KINDS[kind]
    children = record.children.field if record.children else None
    return [name for name in record.create_schema.model_fields if name != children]


def import_csv(*, session: Session, kind: str, stream: IO[bytes] | IO[str],
               user: User | None = None) -> ImportReport:
    """Import one CSV file of ``kind``; raise ValidationFailed (nothing written) on any bad row.

    ``user`` is who imports; kept for the audit trail of callers, it does not change what is written.
    """
    if kind not in IMPORT_KINDS:
        raise ValidationFailed([FieldError("kind", f"must be one of: {', '.join(IMPORT_KINDS)}")])
    if kind in LINE_KINDS:
        return _import_lines(session, LINE_KINDS[kind], stream)
    return _import_records(session, KINDS[kind], stream)


def _import_records(session: Session, kind: Kind, stream: IO[bytes] | IO[str]) -> ImportReport:
    rows, errors = read_rows(stream, columns=columns_of(kind.name), required=("external_id",))
    errors += _repeats(kind, rows)  # found even in rows that fail validation
    existing = _existing(session, kind, [str(row.cells.get("external_id", "")).strip() for row in rows])
    pending: list[Pending] = []
    for row in rows:
        current = existing.get(str(row.cells.get("external_id", "")).strip())
        schema = kind.create_schema if current is None else kind.update_schema
        values = _validate(schema, row, errors)
        if values is not None:
            pending.append(Pending(row.line, values, current))
    ctx = WriteContext(source="import")
    issues = prepare(kind, session=session, items=pending, ctx=ctx, describe=lambda line: f"line {line}")
    _raise_if_any(errors + [FieldError(i.field, i.message, row=i.index) for i in issues])

    new = _uniform(kind.model, [item.values for item in pending if item.existing is None])
    changed = [{**item.values, "id": item.existing.id} for item in pending if item.existing is not None]
    new_ids: list[int] = []
    if new:
        new_ids = list(session.scalars(insert(kind.model).returning(kind.model.id), _batched(new)))
    if changed:
        if hasattr(kind.model, "updated_at"):
            changed = [{**values, "updated_at": ctx.now} for values in changed]
        session.execute(update(kind.model), _batched(changed))
    _refresh_statistics(session, kind.model, len(new) + len(changed))
    owners = _owners(kind, pending, new_ids)
    profiles_changed(session=session, profile_ids=owners)
    return ImportReport(kind.name, len(rows), len(new), len(changed), profiles_changed=len(owners))


def _import_lines(session: Session, kind: LineKind, stream: IO[bytes] | IO[str]) -> ImportReport:
    rows, errors = read_rows(stream, columns=columns_of(kind.name))
    entries = []
    for row in rows:
        values = _validate(kind.schema, row, errors)
        if values is not None:
            entries.append((row.line, "", values, True))
    issues = resolve_references(session, (kind.parent, PRODUCT), entries)
    _raise_if_any(errors + [FieldError(i.field, i.message, row=i.index) for i in issues])

    lines = [values for _, _, values, _ in entries]
    for line in lines:
        complete_line(line)
    parents = sorted({line[kind.parent.column] for line in lines})
    fk = getattr(kind.model, kind.parent.column)
    for start in range(0, len(parents), CHUNK):
        session.execute(delete(kind.model).where(fk.in_(parents[start:start + CHUNK])))
    if lines:
        session.execute(insert(kind.model), _batched(_uniform(kind.model, lines)))
        _refresh_statistics(session, kind.model, len(lines))
    owners: set[int] = set()
    parent_model = kind.parent.target
    for start in range(0, len(parents), CHUNK):
        owners.update(session.scalars(select(parent_model.profile_id).where(
            parent_model.id.in_(parents[start:start + CHUNK]))))
    profiles_changed(session=session, profile_ids=owners)
    return ImportReport(kind.name, len(rows), len(lines), replaced=len(parents),
                        profiles_changed=len(owners))


def _refresh_statistics(session: Session, model: type[Any], written: int) -> None:
    """After a large import, let PostgreSQL's planner see the new rows at once: segment refreshes
    triggered by this import run in the same transaction, before autovacuum would analyze."""
    if written >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ANALYZE {model.__table__.name}"))


def _uniform(model: type[Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give every new row the columns that have no default (as NULL, as if left out), so rows share
    their keys and insert in one batch."""
    keys = {key for row in rows for key in row}
    plain = [c.key for c in model.__table__.columns
             if c.key in keys and c.default is None and c.server_default is None]
    return [{**dict.fromkeys(plain), **row} for row in rows]


def _batched(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Bulk statements run one executemany per run of rows with the same keys; grouping the rows
    # by their keys keeps those runs long (file order does not matter once all rows are valid).
    return sorted(rows, key=lambda row: sorted(row))


def _validate(schema: type[BaseModel], row: CsvRow, errors: list[FieldError]) -> dict[str, Any] | None:
    try:
        return schema.model_validate(row.cells).model_dump(exclude_unset=True)
    except ValidationError as exc:
        errors.extend(field_errors(exc, row=row.line))
        return None


def _repeats(kind: Kind, rows: Sequence[CsvRow]) -> list[FieldError]:
    errors = []
    for field in kind.unique:
        first: dict[str, int] = {}
        for row in rows:
            value = str(row.cells.get(field, "")).strip()
            if value in first:
                errors.append(FieldError(field, f"{value!r} is repeated (also line {first[value]})",
                                         row=row.line))
            elif value:
                first[value] = row.line
    return errors


def _raise_if_any(errors: list[FieldError]) -> None:
    if errors:
        unique = {(e.row, e.field): e for e in reversed(errors)}  # one error per cell
        raise ValidationFailed(sorted(unique.values(), key=lambda e: (e.row or 0, e.field)))


def _existing(session: Session, kind: Kind, keys: Sequence[str]) -> dict[str, Any]:
    """Rows (all columns, no ORM objects) of ``kind`` with the given external ids."""
    found: dict[str, Any] = {}
    keys = sorted({key for key in keys if key})
    table = kind.model.__table__
    for start in range(0, len(keys), CHUNK):
        query = select(table).where(table.c.external_id.in_(keys[start:start + CHUNK]))
        found.update({row.external_id: row for row in session.execute(query)})
    return found


def _owners(kind: Kind, items: Sequence[Pending], new_ids: Sequence[int]) -> set[int]:
    """The profiles the imported rows belong to, before and after the import."""
    if kind.owner is None:
        return set()
    owners = {kind.profile_of(item.existing) for item in items if item.existing is not None}
    if kind.owner == "id":  # profiles themselves: new ones got their ids from the insert
        owners.update(new_ids)
    else:
        owners.update(item.values.get(kind.owner) for item in items)
    return {owner for owner in owners if owner is not None}

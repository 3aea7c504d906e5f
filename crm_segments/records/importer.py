"""CSV import of profiles and of every record type, all or nothing.

Every row is validated with the API's schemas and checked against the database (references by
external id or SKU, unique fields, repeats within the file). If any row is bad nothing is written
and ``ValidationFailed`` lists every problem by line and column (the first MAX_ERRORS of them).
Otherwise rows are written in bulk (COPY on PostgreSQL, executemany elsewhere: bulk_insert.py), not
one ORM object per row.

The file is streamed: rows are read, checked and written CHUNK_ROWS at a time inside one savepoint,
so memory stays flat; while one chunk is checked against the database and written, a child
process (or a thread: read_process.py, read_ahead.py) reads and validates the next. Rows are looked
up by one array parameter on PostgreSQL (IN lists of at most CHUNK keys elsewhere), so no statement
carries a bound parameter per row of the file. The changed profiles are then signalled once, for
the whole file.

- a row whose ``external_id`` already exists updates that row, changing only its non-empty cells;
  other rows are inserted;
- ``quote_lines`` / ``job_lines`` rows replace all the lines of each quote / job they name (so a
  re-import does not duplicate lines); the quote's total and the job's amount are left as they are;
- a consent column that changes a profile's consent records the time and the source "import", and
  writes a consent history row naming the line and who imported (set-based: one INSERT ... SELECT a
  chunk and channel, never a statement per row).

References point at rows already in the database: import categories before products, products and
profiles before quotes, quotes before jobs and quote lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import IO, Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import (
    Boolean,
    Integer,
    String,
    cast,
    column,
    delete,
    insert,
    literal,
    not_,
    null,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from crm_segments.db import UTCDateTime
from crm_segments.kernel.bulk_insert import insert_rows
from crm_segments.kernel.changes import profiles_changed
from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.models import ConsentChange, Job, JobLine, Profile, Quote, QuoteLine, User
from crm_segments.models.messaging import CHANNELS
from crm_segments.profiles.consent import ACTOR_LENGTH
from crm_segments.records import KINDS, Kind, WriteContext
from crm_segments.records.collector import collect_young, collector_paused
from crm_segments.records.csv_rows import CsvReader, CsvRow, read_rows
from crm_segments.records.derive import complete_line
from crm_segments.records.kind import Reference
from crm_segments.records.prepare import CHUNK, Pending, key_sets, lookup, prepare, resolve_references
from crm_segments.records.read_process import read_ahead
from crm_segments.records.references import PRODUCT
from crm_segments.records.validation import field_errors
from crm_segments.schemas import JobLineImport, QuoteLineImport


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
# Chunks written between two collections of the young generations: each one walks the chunk still
# in hand (≈ 25 ms for 5,000 profiles), whatever the cycles it frees (a few per statement).
COLLECT_EVERY = 4
CHUNK_ROWS = 5000  # rows read, checked and written at a time: memory stays flat whatever the file's size
MAX_ERRORS = 1000  # problems listed before the file is no longer read
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
               user: User | None = None, chunk_rows: int = CHUNK_ROWS,
               read_in_child: bool = False) -> ImportReport:
    """Import one CSV file of ``kind``; raise ValidationFailed (nothing written) on any bad row.

    ``user`` is who imports: the consent history names them (else "command line").
    ``read_in_child``: the file is read and validated in a forked child process rather than a thread
    (read_process.py), for a caller that owns its process and runs no other threads of its own.
    The file is read, checked and written ``chunk_rows`` rows at a time, all in one savepoint of the
    caller's transaction: a bad row anywhere undoes the rows already written.
    """
    if kind not in IMPORT_KINDS:
        raise ValidationFailed([FieldError("kind", f"must be one of: {', '.join(IMPORT_KINDS)}")])
    with collector_paused(), session.begin_nested():
        if kind in LINE_KINDS:
            return _import_lines(session, LINE_KINDS[kind], stream, chunk_rows)
        ctx = WriteContext(source="import", actor=user.email if user is not None else "command line",
                           user_id=user.id if user is not None else None)
        return _import_records(session, KINDS[kind], stream, chunk_rows, ctx, read_in_child)


def _import_records(session: Session, kind: Kind, stream: IO[bytes] | IO[str],
                    chunk_rows: int, ctx: WriteContext, read_in_child: bool) -> ImportReport:
    report = ImportReport(kind.name, 0)
    problems = Problems()
    repeats = Repeats(kind.unique)
    owners: set[int] = set()

    def check_new(row: CsvRow) -> tuple[dict[str, Any] | None, list[FieldError]]:
        problems_of_row: list[FieldError] = []
        return _validate(kind.create_schema, row, problems_of_row), problems_of_row

    reader = CsvReader(stream, columns=columns_of(kind.name), required=("external_id",))
    # The reader closes itself at the end of its rows, but where they are read in a child
    # process only the child's copy does: this one leaves the caller's stream open too.
    with closing(reader), read_ahead(reader.rows(), size=chunk_rows, check=check_new,
                                     in_child=read_in_child) as chunks:
        for number, chunk in enumerate(chunks, 1):
            rows = chunk.rows
            report.rows += len(rows)
            errors = [error for row in rows for error in row.errors]
            errors += repeats.check(rows)  # found even in rows that fail validation
            usable = [row for row in rows if row.usable]
            with _custom_plans(session):
                existing = _existing(session, kind, [_external_id(row) for row in usable])
                pending: list[Pending] = []
                for row in usable:
                    current = existing.get(_external_id(row))
                    if current is None:  # validated as a new row while the previous chunk was written
                        values, problems_of_row = chunk.checked[row.line]
                        errors += problems_of_row
                    else:
                        values = _validate(kind.update_schema, row, errors)
                    if values is not None:
                        pending.append(Pending(row.line, values, current))
                # The rows were found by external id just above: no second lookup of the same keys.
                by_external_id = {key: row.id for key, row in existing.items()}
                issues = prepare(kind, session=session, items=pending, ctx=ctx,
                                 describe=lambda line: f"line {line}", known={"external_id": by_external_id})
            errors += [FieldError(i.field, i.message, row=i.index) for i in issues]
            if not problems.add(errors, last_line=rows[-1].line):
                break
            if problems:
                continue  # checked to report every problem, but nothing more is written
            new_ids = _write_records(session, kind, pending, ctx, report)
            owners |= _owners(kind, pending, new_ids)
            if number % COLLECT_EVERY == 0:
                collect_young()
    problems.raise_if_any()
    del repeats  # every key of the file (45 MB at 355,000 rows): not needed by the re-evaluation
    _refresh_statistics(session, kind.model, report.created + report.updated)
    changed = frozenset(owners)  # what profiles_changed works with, so it makes no second copy
    del owners
    profiles_changed(session=session, profile_ids=changed)
    report.profiles_changed = len(changed)
    return report


def _write_records(session: Session, kind: Kind, pending: Sequence[Pending], ctx: WriteContext,
                   report: ImportReport) -> list[int]:
    """Insert the new rows and update the existing ones; the ids of the new rows."""
    new = [item.values for item in pending if item.existing is None]
    changed = [{**item.values, "id": item.existing.id} for item in pending if item.existing is not None]
    if changed and hasattr(kind.model, "updated_at"):
        changed = [{**values, "updated_at": ctx.now} for values in changed]
    new_ids: dict[str, int] = {}
    if kind.owner == "id" and new:  # profiles: their new ids are what changed
        given = insert_rows(session, kind.model.__table__, new, ids=True)
        if given:
            new_ids = {values["external_id"]: row_id for values, row_id in zip(new, given, strict=True)}
        else:  # not PostgreSQL: look them up
            new_ids = lookup(session, kind.model, "external_id", [values["external_id"] for values in new])
    else:
        insert_rows(session, kind.model.__table__, new)
    if changed:  # executemany: one row's values per execution
        session.execute(update(kind.model), _batched(changed))
    if kind.model is Profile:
        _consent_history(session, pending, new_ids, ctx)
    report.created += len(new)
    report.updated += len(changed)
    return list(new_ids.values())


def _consent_history(session: Session, pending: Sequence[Pending], new_ids: dict[str, int],
                     ctx: WriteContext) -> None:
    """A consent history row for each consent this chunk changed (``record_consent`` stamped its
    time): one INSERT ... SELECT a channel, its rows bound as arrays. The consent it replaced comes from
    the rows read before the write, so the profiles table is not read again."""
    for channel in CHANNELS:
        flag = f"{channel}_consent"
        rows = []
        for item in pending:
            if f"{flag}_at" not in item.values:
                continue
            old = item.existing
            if old is None:
                if item.values[flag]:  # a new profile without consent has nothing to record
                    rows.append((new_ids[item.values["external_id"]], item.index, False, None, None))
            else:
                rows.append((old.id, item.index, bool(getattr(old, flag)), getattr(old, f"{flag}_source"),
                             getattr(old, f"{flag}_at")))
        if not rows:
            continue
        given = _history_values(session, rows)
        select_rows = select(
            given.c.profile_id, literal(channel), given.c.old, not_(given.c.old), literal("import"),
            literal(ctx.actor[:ACTOR_LENGTH]), literal("CSV import, line ") + cast(given.c.line, String),
            given.c.source, given.c.at, literal(ctx.user_id, Integer) if ctx.user_id is not None else null(),
            literal(ctx.now, UTCDateTime()),
        )
        session.execute(insert(ConsentChange).from_select(
            ["profile_id", "channel", "old_value", "new_value", "source", "actor", "detail",
             "previous_source", "previous_at", "user_id", "changed_at"], select_rows))


def _history_values(session: Session, rows: Sequence[tuple[int, int, bool, str | None, Any]]) -> Any:
    """(profile_id, line, old consent, its source, its time) rows as a table bound in one parameter per
    column (PostgreSQL arrays) or one JSON parameter (SQLite), never one per row."""
    dialect = session.get_bind().dialect
    columns: dict[str, TypeEngine[Any]] = {"profile_id": Integer(), "line": Integer(), "old": Boolean(),
                                           "source": String(), "at": UTCDateTime()}
    if dialect.name == "postgresql":
        ids, lines, olds, sources, ats = (list(column) for column in zip(*rows, strict=True))
        clause = text("SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:lines AS integer[]), "
                      "CAST(:olds AS boolean[]), CAST(:sources AS text[]), CAST(:ats AS timestamptz[])) "
                      "AS v(profile_id, line, old, source, at)").bindparams(
            ids=ids, lines=lines, olds=olds, sources=sources, ats=ats)
    else:
        stored = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)  # SQLite keeps times as text
        assert stored is not None
        data = [[pid, line, int(old), source, stored(at)] for pid, line, old, source, at in rows]
        picks = ", ".join(f"json_extract(value, '$[{i}]') AS {name}" for i, name in enumerate(columns))
        clause = text(f"SELECT {picks} FROM json_each(:rows)").bindparams(rows=json.dumps(data))
    typed = clause.columns(*(column(name, type_) for name, type_ in columns.items()))
    return typed.subquery("history_values")


def _import_lines(session: Session, kind: LineKind, stream: IO[bytes] | IO[str],
                  chunk_rows: int) -> ImportReport:
    report = ImportReport(kind.name, 0)
    problems = Problems()
    replaced: set[int] = set()  # parents whose old lines are already deleted
    fk = getattr(kind.model, kind.parent.column)
    for rows in _chunks(read_rows(stream, columns=columns_of(kind.name)), chunk_rows):
        report.rows += len(rows)
        errors = [error for row in rows for error in row.errors]
        entries = []
        for row in rows:
            values = _validate(kind.schema, row, errors) if row.usable else None
            if values is not None:
                entries.append((row.line, "", values, True))
        with _custom_plans(session):
            issues = resolve_references(session, (kind.parent, PRODUCT), entries)
        if not problems.add(errors + [FieldError(i.field, i.message, row=i.index) for i in issues],
                            last_line=rows[-1].line):
            break
        if problems:
            continue
        lines = [values for _, _, values, _ in entries]
        for line in lines:
            complete_line(line)
        parents = sorted({line[kind.parent.column] for line in lines} - replaced)
        for start in range(0, len(parents), CHUNK):
            session.execute(delete(kind.model).where(fk.in_(parents[start:start + CHUNK])))
        replaced.update(parents)
        insert_rows(session, kind.model.__table__, lines)
        report.created += len(lines)
        collect_young()
    problems.raise_if_any()
    _refresh_statistics(session, kind.model, report.created)
    owners: set[int] = set()
    parent_model = kind.parent.target
    parents = sorted(replaced)
    for start in range(0, len(parents), CHUNK):
        owners.update(session.scalars(select(parent_model.profile_id).where(
            parent_model.id.in_(parents[start:start + CHUNK]))))
    profiles_changed(session=session, profile_ids=owners)
    report.replaced, report.profiles_changed = len(replaced), len(owners)
    return report


class Problems:
    """Every problem found so far, up to MAX_ERRORS: past that the file is not read any further."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def __bool__(self) -> bool:
        return bool(self.errors)

    def add(self, errors: list[FieldError], *, last_line: int) -> bool:
        """Keep ``errors``; False once there are too many to be worth reading on."""
        self.errors += errors
        if len(self.errors) < MAX_ERRORS:
            return True
        self.errors.append(FieldError("file", f"more than {MAX_ERRORS:,} problems; reading stopped "
                                              f"after line {last_line}"))
        return False

    def raise_if_any(self) -> None:
        _raise_if_any(self.errors)


class Repeats:
    """Values of the unique columns seen so far in the file, with the line of their first use."""

    def __init__(self, fields: Sequence[str]) -> None:
        self._first: dict[str, dict[str, int]] = {field: {} for field in fields}

    def check(self, rows: Sequence[CsvRow]) -> list[FieldError]:
        errors = []
        for field, first in self._first.items():
            for row in rows:
                value = str(row.cells.get(field) or "").strip()
                if value in first:
                    errors.append(FieldError(field, f"{value!r} is repeated (also line {first[value]})",
                                             row=row.line))
                elif value:
                    first[value] = row.line
        return errors


@contextmanager
def _custom_plans(session: Session) -> Iterator[None]:
    """On PostgreSQL, plan a chunk's lookups for the table as it is now.

    psycopg prepares a statement run five times (every chunk's lookups are the same text) and
    PostgreSQL may then keep one generic plan for it: planned while the table still held the first
    chunks, a sequential scan that every later chunk repeats over the rows written so far, so the
    lookups grew with the square of the file (350 ms a lookup at 25,000 rows).

    Only around the lookups: the setting also applies to the plans PostgreSQL keeps for its own
    foreign-key checks, one query per written row, which it then planned again for every row (the
    re-evaluation after a 100,000-row import took 13 s of server CPU with it, 6.5 s without).
    """
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    previous = session.scalar(text("SELECT current_setting('plan_cache_mode')"))
    session.execute(text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)"))
    yield  # on an error the import's savepoint is rolled back, and the setting with it
    session.execute(text("SELECT set_config('plan_cache_mode', :previous, true)"), {"previous": previous})


def _chunks(rows: Iterator[CsvRow], size: int) -> Iterator[list[CsvRow]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def _external_id(row: CsvRow) -> str:
    return str(row.cells.get("external_id") or "").strip()


def _refresh_statistics(session: Session, model: type[Any], written: int) -> None:
    """After a large import, let PostgreSQL's planner see the new rows at once: segment refreshes
    triggered by this import run in the same transaction, before autovacuum would analyze."""
    if written >= ANALYZE_AFTER and session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ANALYZE {model.__table__.name}"))


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


def _raise_if_any(errors: list[FieldError]) -> None:
    if errors:
        unique = {(e.row, e.field): e for e in reversed(errors)}  # one error per cell
        raise ValidationFailed(sorted(unique.values(), key=lambda e: (e.row or 0, e.field)))


def _existing(session: Session, kind: Kind, keys: Sequence[str]) -> dict[str, Any]:
    """Rows (all columns, no ORM objects) of ``kind`` with the given external ids."""
    found: dict[str, Any] = {}
    table = kind.model.__table__
    for among in key_sets(session, table.c.external_id, sorted({key for key in keys if key})):
        found.update({row.external_id: row for row in session.execute(select(table).where(among))})
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

"""Create, read, update, delete, list and upsert any record type described by a ``Kind``.

``create`` and ``update`` take the kind's input models, validated once where they were built (the API,
a form, the importer); the upserts validate each item with the create or update model once they know
whether its row exists. Every write is checked against the database with ``prepare`` and only then
written, so a bad item writes nothing. Writes are flushed, never
committed: the caller owns the transaction and rolls back on any error. Each write of a profile or
of a record of a profile signals ``profiles_changed`` for the profiles it touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm_segments.kernel.changes import profiles_changed
from crm_segments.kernel.errors import Conflict, FieldError, NotFound, ValidationFailed
from crm_segments.kernel.keyset import KeysetPage
from crm_segments.kernel.sorted_pages import SortKeys, sorted_page
from crm_segments.models import Profile
from crm_segments.profiles.queries import SORT_KEYS as PROFILE_SORT_KEYS
from crm_segments.profiles.queries import list_profiles
from crm_segments.schemas.batch import MAX_BATCH, BatchIn

from .kind import Kind, WriteContext
from .prepare import CHUNK, Issue, Pending, prepare
from .profiles import parse_profile_filter
from .queries import KINDS_BY_PATH, parse_record_filter, records_page
from .validation import validate

NO_SORT_KEYS = SortKeys({})  # types without a list in the UI are listed in id order


def get(kind: Kind, *, session: Session, id: int) -> Any:
    row = session.get(kind.model, id, options=kind.load)
    if row is None:
        raise NotFound(f"no {kind.label} with id {id}")
    return row


def sort_keys(kind: Kind) -> SortKeys:
    """The columns the kind's list sorts by: those of its list in the UI, if it has one."""
    if kind.model is Profile:
        return PROFILE_SORT_KEYS
    listed = KINDS_BY_PATH.get(kind.name)
    return listed.sort_keys if listed is not None else NO_SORT_KEYS


def list_page(kind: Kind, *, session: Session, filters: Mapping[str, Any], sort: str | None = None,
              limit: int = 100, after: int | None = None, before: int | None = None,
              max_limit: int = MAX_BATCH) -> KeysetPage:
    """Rows matching ``filters`` (checked by the kind's filter model) in ``sort`` order (id order by
    default), keyset-paged. A type with a list in the UI (profiles, quotes, jobs, opportunities) is
    listed by the very filter and pager of that list."""
    if kind.model is Profile:
        return list_profiles(session=session, profile_filter=parse_profile_filter(filters), sort=sort,
                             after=after, before=before, limit=limit, max_limit=max_limit, options=kind.load)
    listed = KINDS_BY_PATH.get(kind.name)
    if listed is not None:
        record_filter = parse_record_filter(listed, filters)
        return records_page(session=session, record_filter=record_filter, sort=sort, after=after,
                            before=before, limit=limit, max_limit=max_limit, options=kind.load)
    given = validate(kind.filter_schema, dict(filters)).model_dump(exclude_none=True)
    query = select(kind.model).options(*kind.load)
    for field, value in given.items():
        if field == "updated_since":
            query = query.where(kind.model.updated_at >= value)
        else:
            query = query.where(getattr(kind.model, field) == value)
    return sorted_page(session, query, kind.model.id, NO_SORT_KEYS.parse(sort), after=after, before=before,
                       limit=limit, max_limit=max_limit)


def create(kind: Kind, *, session: Session, data: BaseModel, ctx: WriteContext | None = None) -> Any:
    """Write a new row from its input model (``kind.create_schema``, built by the API, a form or a test)."""
    _check_model(data, kind.create_schema)
    return _write_one(kind, session, Pending(0, data.model_dump(exclude_unset=True)), ctx or WriteContext())


def update(kind: Kind, *, session: Session, id: int, data: BaseModel, ctx: WriteContext | None = None) -> Any:
    """Change only the fields ``data`` (a ``kind.update_schema``) was given (PATCH semantics)."""
    _check_model(data, kind.update_schema)
    existing = get(kind, session=session, id=id)
    values = data.model_dump(exclude_unset=True)
    return _write_one(kind, session, Pending(0, values, existing), ctx or WriteContext())


def _check_model(data: BaseModel, schema: type[BaseModel]) -> None:
    # The model was validated when it was built; a model of another type is a programming error.
    if not isinstance(data, schema):
        raise TypeError(f"expected a {schema.__name__}, got {type(data).__name__}")


def delete(kind: Kind, *, session: Session, id: int) -> None:
    row = get(kind, session=session, id=id)
    owner = kind.profile_of(row)
    session.delete(row)
    _flush(kind, session)
    _signal(session, [owner])


def upsert(kind: Kind, *, session: Session, external_id: str, data: Any,
           ctx: WriteContext | None = None) -> tuple[Any, bool]:
    """Update the row with ``external_id`` with the fields given, or create it; return (row, created)."""
    if isinstance(data, dict) and data.get("external_id", external_id) != external_id:
        raise ValidationFailed([FieldError("external_id", "differs from the external id in the URL")])
    existing = _by_external_id(kind, session, [external_id]).get(external_id)
    schema = kind.create_schema if existing is None else kind.update_schema
    values = _input(schema, {**data, "external_id": external_id} if isinstance(data, dict) else data)
    row = _write_one(kind, session, Pending(0, values, existing), ctx or WriteContext())
    return row, existing is None


def upsert_many(kind: Kind, *, session: Session, batch: BatchIn,
                ctx: WriteContext | None = None) -> list[tuple[Any, bool]]:
    """Upsert every item by its external_id, all or nothing; errors name ``items[i].field``."""
    items = batch.items
    ctx = ctx or WriteContext()
    keys = [item.get("external_id") if isinstance(item, dict) else None for item in items]
    existing = _by_external_id(kind, session, [k for k in keys if isinstance(k, str)])
    errors: list[FieldError] = []
    pending: list[Pending] = []
    for index, (item, key) in enumerate(zip(items, keys, strict=True)):
        row = existing.get(key) if isinstance(key, str) else None
        schema = kind.create_schema if row is None else kind.update_schema
        try:
            values = _input(schema, item, prefix=f"items[{index}].")
        except ValidationFailed as exc:
            errors += exc.errors
            continue
        pending.append(Pending(index, values, row))
    issues = prepare(kind, session=session, items=pending, ctx=ctx, describe=lambda i: f"items[{i}]")
    errors += [FieldError(f"items[{i.index}].{i.field}", i.message) for i in issues]
    if errors:
        raise ValidationFailed(sorted(errors, key=_item_order))
    audited = kind.audit(session, pending, ctx) if kind.audit else None
    rows = [_apply(kind, session, item) for item in pending]
    _flush(kind, session)
    if audited is not None:
        audited(rows)
    _signal(session, [kind.profile_of(row) for row in rows] + _old_owners(kind, pending))
    return [(row, item.existing is None) for row, item in zip(rows, pending, strict=True)]


def _item_order(error: FieldError) -> tuple[int, str]:
    index = error.field.partition("]")[0].removeprefix("items[")
    return (int(index) if index.isdigit() else -1, error.field)


def _input(schema: type[BaseModel], data: Any, *, prefix: str = "") -> dict[str, Any]:
    return validate(schema, data, prefix=prefix).model_dump(exclude_unset=True)


def _write_one(kind: Kind, session: Session, item: Pending, ctx: WriteContext) -> Any:
    issues = prepare(kind, session=session, items=[item], ctx=ctx, describe=lambda _: "in this request")
    _raise_for(issues)
    old_owner = _old_owners(kind, [item])
    audited = kind.audit(session, [item], ctx) if kind.audit else None
    row = _apply(kind, session, item)
    _flush(kind, session)
    if audited is not None:
        audited([row])
    _signal(session, [kind.profile_of(row), *old_owner])
    return row


def _raise_for(issues: list[Issue]) -> None:
    if not issues:
        return
    if all(issue.conflict for issue in issues):
        raise Conflict(issues[0].field, issues[0].message)
    raise ValidationFailed([FieldError(issue.field, issue.message) for issue in issues])


def _apply(kind: Kind, session: Session, item: Pending) -> Any:
    row = item.existing if item.existing is not None else kind.model()
    values = dict(item.values)
    children = values.pop(kind.children.field, None) if kind.children else None
    for field, value in values.items():
        setattr(row, field, value)
    if kind.children is not None and children is not None:
        setattr(row, kind.children.field, [kind.children.model(**child) for child in children])
    if item.existing is None:
        session.add(row)
    return row


def _old_owners(kind: Kind, items: Iterable[Pending]) -> list[int | None]:
    # A record moved to another profile changes both profiles.
    return [kind.profile_of(item.existing) for item in items if item.existing is not None]


def _flush(kind: Kind, session: Session) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        # A concurrent writer took a unique value between our check and the insert.
        message = str(exc.orig)
        for field in kind.unique:
            if field in message:
                raise Conflict(field, f"another {kind.label} already has this {field}") from None
        raise


def _signal(session: Session, owners: Iterable[int | None]) -> None:
    profiles_changed(session=session, profile_ids={o for o in owners if o is not None})


def _by_external_id(kind: Kind, session: Session, keys: Sequence[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for start in range(0, len(keys), CHUNK):
        query = select(kind.model).options(*kind.load).where(
            kind.model.external_id.in_(keys[start:start + CHUNK])
        )
        found.update({row.external_id: row for row in session.scalars(query)})
    return found

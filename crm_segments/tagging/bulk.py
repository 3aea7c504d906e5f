"""Bulk tagging: add or remove tags on a whole selection, recorded so it can be undone as one step.

Per tag, the change is ONE set-based statement over the selection (``INSERT ... SELECT ... WHERE NOT
EXISTS`` / ``DELETE ... WHERE entity_id IN (SELECT ...)``), and its audit events are written by
``INSERT ... SELECT`` from the same set. What undo needs is recorded exactly: taggings the operation
adds carry its id; taggings it removes are copied, as they were, to ``crm_bulk_operation_items``.

On PostgreSQL the change and its records are one statement (data-modifying CTEs with RETURNING), so
they describe exactly the rows changed even with concurrent writers. SQLite has no such CTEs; there
the statements run one after the other, which is exact because SQLite lets one writer in at a time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, String, and_, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session

from crm_segments.db import UTCDateTime, utcnow
from crm_segments.kernel.errors import Conflict, FieldError, NotFound, ValidationFailed
from crm_segments.kernel.sql import dialect_name, execute_count, insert_ignore
from crm_segments.models import BulkOperation, BulkOperationItem, Tag
from crm_segments.models.tags import BULK_ACTIONS
from crm_segments.records.entities import suppression_model, tagging_model
from crm_segments.selection.targets import Selection, count

from .audit import Actor, events_insert
from .suppressions import rule_for_tag

Items = BulkOperationItem
# Bulk taggings name their operation instead of a user (added_by_id stays empty): who did it is on
# the operation, and an empty column skips a per-row foreign key check on PostgreSQL.
TAGGING_COLUMNS = ["entity_id", "tag_id", "source", "added_at", "bulk_operation_id"]
RESTORE_COLUMNS = ["entity_id", "tag_id", "source", "added_by_id", "added_at", "bulk_operation_id", "rule_id"]
SUPPRESSION_COLUMNS = ["entity_id", "tag_id", "rule_id", "suppressed_by_id", "suppressed_at",
                       "bulk_operation_id"]
ITEM_COLUMNS = ["operation_id", "tag_id", "entity_id", "prev_source", "prev_added_by_id", "prev_added_at",
                "prev_rule_id", "prev_bulk_operation_id"]


@dataclass(frozen=True)
class TagCount:
    tag: Tag
    changed: int


@dataclass(frozen=True)
class BulkResult:
    operation: BulkOperation
    selected: int  # entities in the selection
    changed: int  # taggings added or removed, over all tags
    per_tag: Sequence[TagCount]


def _int(value: int | None) -> Any:
    return literal(value, Integer())


def bulk_tag(
    *, session: Session, action: str, selection: Selection, tags: Sequence[Tag],
    user_id: int | None = None, now: dt.datetime | None = None,
) -> BulkResult:
    """Add (or remove) every tag in ``tags`` on every entity of ``selection``; re-adding is a no-op."""
    if action not in BULK_ACTIONS:
        raise ValidationFailed([FieldError("action", f"must be one of {', '.join(BULK_ACTIONS)}")])
    if not tags:
        raise ValidationFailed([FieldError("tags", "give at least one tag")])
    now = now or utcnow()
    operation = BulkOperation(
        action=action, entity_type=selection.entity_type, selection_kind=selection.kind,
        selection_description=selection.description[:500], selection=selection.params, tags=[],
        selected_count=count(session=session, selection=selection), created_by_id=user_id,
        created_at=now,
    )
    session.add(operation)
    session.flush()
    apply = _add if action == "add" else _remove
    per_tag = [TagCount(tag, apply(session, operation, tag, selection, now))
               for tag in dict.fromkeys(tags)]
    operation.tags = [{"id": t.tag.id, "name": t.tag.name, "changed": t.changed} for t in per_tag]
    operation.changed_count = sum(t.changed for t in per_tag)
    session.flush()
    return BulkResult(operation, operation.selected_count, operation.changed_count, per_tag)


def _actor(operation: BulkOperation, user_id: int | None) -> Actor:
    return Actor("bulk", user_id=user_id, bulk_operation_id=operation.id)


def _add(session: Session, op: BulkOperation, tag: Tag, selection: Selection, now: dt.datetime) -> int:
    model = tagging_model(op.entity_type)
    chosen = selection.ids.subquery("chosen")
    entity = list(chosen.c)[0]
    new_rows = select(entity, _int(tag.id), literal("bulk", String()), literal(now, UTCDateTime()),
                      _int(op.id))
    actor = _actor(op, op.created_by_id)
    if dialect_name(session) == "postgresql":
        # Taggings the entity already has are skipped by ON CONFLICT (a primary key probe per row),
        # not by NOT EXISTS: planned against a tagging table that is empty (a new install), NOT EXISTS
        # became a nested loop re-reading the table as the statement filled it (40 s for 90,000).
        added = (insert_ignore(session, model.__table__).from_select(TAGGING_COLUMNS, new_rows)
                 .returning(model.entity_id, model.tag_id).cte("added"))
        stmt = events_insert(added, entity_type=op.entity_type, action="added", actor=actor, now=now)
        return execute_count(session, stmt.add_cte(added))
    already = select(model.entity_id).where(model.entity_id == entity, model.tag_id == tag.id).exists()
    changed = execute_count(session, insert(model.__table__).from_select(TAGGING_COLUMNS,
                                                                        new_rows.where(~already)))
    # The operation is new, so its id marks exactly the rows just added.
    ours = select(model.entity_id, model.tag_id).where(model.bulk_operation_id == op.id,
                                                       model.tag_id == tag.id).subquery()
    session.execute(events_insert(ours, entity_type=op.entity_type, action="added", actor=actor, now=now))
    return changed


def _remove(session: Session, op: BulkOperation, tag: Tag, selection: Selection, now: dt.datetime) -> int:
    model = tagging_model(op.entity_type)
    suppression = suppression_model(op.entity_type)
    chosen = selection.ids.subquery("chosen")
    targeted = and_(model.tag_id == tag.id, model.entity_id.in_(select(list(chosen.c)[0])))
    # A person removing a tag a rule adds wins over the rule: suppress it on these entities.
    tag_rule = rule_for_tag(session, op.entity_type, tag.id)
    actor = _actor(op, op.created_by_id)

    def suppressions_from(rows: Any, rule_col: Any) -> Any:
        query = select(rows.c.entity_id, rows.c.tag_id, func.coalesce(rule_col, _int(tag_rule)),
                       _int(op.created_by_id), literal(now, UTCDateTime()), _int(op.id))
        return query if tag_rule is not None else query.where(rule_col.is_not(None))

    if dialect_name(session) == "postgresql":
        removed = delete(model).where(targeted).returning(
            model.entity_id, model.tag_id, model.source, model.added_by_id, model.added_at,
            model.rule_id, model.bulk_operation_id,
        ).cte("removed")
        items = insert(Items).from_select(ITEM_COLUMNS, select(
            _int(op.id), removed.c.tag_id, removed.c.entity_id, removed.c.source, removed.c.added_by_id,
            removed.c.added_at, removed.c.rule_id, removed.c.bulk_operation_id,
        )).cte("items")
        suppressed = insert_ignore(session, suppression.__table__).from_select(
            SUPPRESSION_COLUMNS, suppressions_from(removed, removed.c.rule_id)).cte("suppressed")
        stmt = events_insert(removed, entity_type=op.entity_type, action="removed", actor=actor, now=now)
        return execute_count(session, stmt.add_cte(removed).add_cte(items).add_cte(suppressed))
    changed = execute_count(session, insert(Items).from_select(ITEM_COLUMNS, select(
        _int(op.id), model.tag_id, model.entity_id, model.source, model.added_by_id, model.added_at,
        model.rule_id, model.bulk_operation_id,
    ).where(targeted)))
    mine = select(Items.entity_id, Items.tag_id, Items.prev_rule_id).where(
        Items.operation_id == op.id, Items.tag_id == tag.id).subquery()
    not_suppressed = ~select(suppression.entity_id).where(
        suppression.entity_id == mine.c.entity_id, suppression.tag_id == tag.id).exists()
    session.execute(insert(suppression.__table__).from_select(
        SUPPRESSION_COLUMNS, suppressions_from(mine, mine.c.prev_rule_id).where(not_suppressed)))
    session.execute(events_insert(mine, entity_type=op.entity_type, action="removed", actor=actor, now=now))
    session.execute(delete(model).where(model.tag_id == tag.id, model.entity_id.in_(
        select(mine.c.entity_id))))
    return changed


@dataclass(frozen=True)
class UndoResult:
    operation: BulkOperation
    reverted: int  # taggings put back as they were


def undo_bulk_operation(
    *, session: Session, operation_id: int, user_id: int | None = None, now: dt.datetime | None = None,
) -> UndoResult:
    """Revert exactly what the operation changed, once; a second undo is refused (Conflict).

    Taggings it added are removed only if they are still the ones it added; taggings it removed are
    put back with their original source, author, time and rule, unless someone re-added them since,
    and the suppressions it created are cleared. Each is one statement for the whole operation.
    """
    now = now or utcnow()
    op = session.get(BulkOperation, operation_id)
    if op is None:
        raise NotFound(f"operation_id: no bulk operation with id {operation_id}")
    # Claimed with a conditional UPDATE so two people undoing at once cannot both revert it.
    claimed = execute_count(session, update(BulkOperation).where(
        BulkOperation.id == op.id, BulkOperation.undone_at.is_(None),
    ).values(undone_at=now, undone_by_id=user_id).execution_options(synchronize_session=False))
    if not claimed:
        session.refresh(op)
        when = f" at {op.undone_at:%Y-%m-%d %H:%M} UTC" if op.undone_at else ""
        raise Conflict("operation_id", f"bulk operation {op.id} was already undone{when}")
    session.refresh(op)
    actor = Actor("bulk", user_id=user_id, bulk_operation_id=op.id)
    revert = _undo_add if op.action == "add" else _undo_remove
    op.undone_count = revert(session, op, actor, now)
    session.flush()
    return UndoResult(op, op.undone_count)


def _undo_add(session: Session, op: BulkOperation, actor: Actor, now: dt.datetime) -> int:
    model = tagging_model(op.entity_type)
    still_ours = model.bulk_operation_id == op.id  # served by the partial index on bulk_operation_id
    if dialect_name(session) == "postgresql":
        gone = delete(model).where(still_ours).returning(model.entity_id, model.tag_id).cte("undone")
        stmt = events_insert(gone, entity_type=op.entity_type, action="removed", actor=actor, now=now)
        return execute_count(session, stmt.add_cte(gone))
    rows = select(model.entity_id, model.tag_id).where(still_ours).subquery()
    session.execute(events_insert(rows, entity_type=op.entity_type, action="removed", actor=actor, now=now))
    return execute_count(session, delete(model).where(still_ours))


def _undo_remove(session: Session, op: BulkOperation, actor: Actor, now: dt.datetime) -> int:
    model = tagging_model(op.entity_type)
    suppression = suppression_model(op.entity_type)
    rows = select(
        Items.entity_id, Items.tag_id, Items.prev_source, Items.prev_added_by_id, Items.prev_added_at,
        Items.prev_bulk_operation_id, Items.prev_rule_id,
    ).where(Items.operation_id == op.id)
    ours = delete(suppression).where(suppression.bulk_operation_id == op.id)
    if dialect_name(session) == "postgresql":  # re-added since: skipped by ON CONFLICT, as in _add
        restored = (insert_ignore(session, model.__table__).from_select(RESTORE_COLUMNS, rows)
                    .returning(model.entity_id, model.tag_id).cte("restored"))
        cleared = ours.cte("cleared")
        stmt = events_insert(restored, entity_type=op.entity_type, action="added", actor=actor, now=now)
        return execute_count(session, stmt.add_cte(restored).add_cte(cleared))
    rows = rows.where(~select(model.entity_id).where(
        model.entity_id == Items.entity_id, model.tag_id == Items.tag_id).exists())
    session.execute(events_insert(rows.subquery(), entity_type=op.entity_type, action="added",
                                  actor=actor, now=now))
    restored_count = execute_count(session, insert(model.__table__).from_select(RESTORE_COLUMNS, rows))
    session.execute(ours)
    return restored_count


def list_operations(*, session: Session, limit: int = 50, before: int | None = None) -> list[BulkOperation]:
    """Bulk operations, newest first (keyset-paginated by id)."""
    query = select(BulkOperation).order_by(BulkOperation.id.desc()).limit(limit)
    if before is not None:
        query = query.where(BulkOperation.id < before)
    return list(session.scalars(query))

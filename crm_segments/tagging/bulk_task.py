"""Bulk tagging of a whole filtered list or a segment as a background task.

The page checks the request and queues the task with the selection's fields; the task builds the
same selection again and tags it in one transaction, so a large base never holds up the page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import FieldError, NotFound, ValidationFailed
from crm_segments.kernel.record_ids import parse_id
from crm_segments.models import Tag
from crm_segments.models.record_types import entity_plural
from crm_segments.records import queries as record_queries
from crm_segments.selection import targets as selection
from crm_segments.tagging import bulk
from crm_segments.tasks.kinds import TaskInput, TaskResult

# The form fields a selection is built from (the profiles list's and the record lists' filters).
SELECTION_FIELDS = frozenset({"ids", "q", "region", "lifecycle", "tag", "segment", "owner", "segment_id",
                              "status", "stage", "date_from", "date_to", "amount_min", "amount_max"})
ACTIONS = ("add", "remove")


def selection_for(session: Session, *, entity_type: str, scope: str,
                  fields: Mapping[str, str]) -> selection.Selection:
    """What a bulk bar chose: selected rows, the whole filtered list or a segment's members."""
    if scope == "selected":
        raw = fields.get("ids", "")
        # What is not an id stays text, which by_ids refuses naming it.
        ids: list[Any] = [parse_id(p) or p for p in raw.split(",") if p.strip()]
        return selection.by_ids(session=session, entity_type=entity_type, ids=ids)
    if scope == "filter" and entity_type != "profile":
        kind = record_queries.KINDS[entity_type]
        return selection.by_record_filter(
            entity_type, q=fields.get("q"), status=fields.get(kind.status_key),
            date_from=fields.get("date_from"), date_to=fields.get("date_to"),
            amount_min=fields.get("amount_min"), amount_max=fields.get("amount_max"), tag=fields.get("tag"))
    if scope == "filter":
        return selection.by_filter(q=fields.get("q"), region=fields.get("region"),
                                   lifecycle=fields.get("lifecycle"), tag=fields.get("tag"),
                                   segment=fields.get("segment"), owner=fields.get("owner"))
    if scope == "segment" and entity_type == "profile":
        raw_segment = fields.get("segment_id", "")
        return selection.by_segment(session=session,
                                    segment_id=parse_id(raw_segment) or raw_segment)
    if entity_type != "profile":
        raise ValidationFailed([FieldError("scope", "choose selected rows or the filtered list")])
    raise ValidationFailed([FieldError("scope", "choose selected rows, the filtered list or a segment")])


def check_action(action: str) -> None:
    if action not in ACTIONS:
        raise ValidationFailed([FieldError("action", "must be add or remove")])


def summary(result: bulk.BulkResult) -> str:
    """e.g. "Added 'vip' to 1,200 profiles (300 already had it). You can undo it under Bulk operations." """
    noun = entity_plural(result.operation.entity_type)
    adding = result.operation.action == "add"
    parts = []
    for count in result.per_tag:
        unchanged = result.selected - count.changed
        note = f" ({unchanged:,} already {'had' if adding else 'lacked'} it)" if unchanged else ""
        verb = f"Added {count.tag.name!r} to" if adding else f"Removed {count.tag.name!r} from"
        parts.append(f"{verb} {count.changed:,} {noun}{note}")
    return "; ".join(parts) + ". You can undo it under Bulk operations."


def bulk_tag_task(session_factory: Callable[[], Session], task: TaskInput,
                  report: Callable[[str], None]) -> TaskResult:
    params = task.params
    tag_ids = [int(i) for i in params["tag_ids"]]
    report("Tagging the selection")
    with session_factory() as session:
        try:
            chosen = selection_for(session, entity_type=str(params["entity_type"]),
                                   scope=str(params["scope"]), fields=dict(params["fields"]))
            found = {t.id: t for t in session.scalars(select(Tag).where(Tag.id.in_(tag_ids)))}
            if len(found) != len(tag_ids):
                raise ValidationFailed([FieldError("tags", "a tag was deleted before the operation ran")])
            result = bulk.bulk_tag(session=session, action=str(params["action"]), selection=chosen,
                                   tags=[found[i] for i in tag_ids], user_id=task.user_id)
        except (ValidationFailed, NotFound) as exc:
            session.rollback()
            return TaskResult(False, f"Nothing was changed: {exc}")
        session.commit()
        return TaskResult(True, summary(result), {"operation_id": result.operation.id})

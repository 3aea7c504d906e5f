"""Enroll profiles from trigger events: segment entries, tags added, record dates reached.

Each trigger is one INSERT ... SELECT per workflow, with the re-entry policy in its WHERE clause and
ON CONFLICT DO NOTHING: a trigger occurrence has a unique ``trigger_key`` per workflow and a profile
has at most one active enrollment (both unique in the database), so reading the same events twice,
or the scheduler and the near-real-time path racing, never enrolls anyone twice.

Events are read from the workflow's ``events_checked_at`` minus a look-back: a transaction that
wrote events a little earlier but committed after the last run is still seen.

The near-real-time path names its changed profiles as one bound array, not one parameter per id:
an import of 355,000 profiles is one statement per workflow, within every backend's limit on bound
parameters, and linear in the events read (a join with an unnested array was planned as a nested
loop over events not yet analyzed: 8 minutes for 70,000). PostgreSQL hashes ``= ANY(array)`` only
when the column and the array elements hash alike: the array is ``integer[]``, the type of the
profile id columns; a ``bigint[]`` against an ``integer`` column is searched element by element,
quadratic in the changed profiles (4.4 s for 50,000, against 0.05 s hashed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Table,
    any_,
    literal,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm_segments.db import UTCDateTime
from crm_segments.kernel.id_arrays import id_array
from crm_segments.kernel.sql import execute_count, id_values
from crm_segments.models import Enrollment, ProfileTag, SegmentEvent, SegmentMember, TagEvent, Workflow

from .records import record_model, record_pick, status_column
from .reentry import reentry_allowed

LOOKBACK = dt.timedelta(minutes=10)
ENROLL_COLUMNS = ("workflow_id", "profile_id", "trigger_key", "trigger_record_type", "trigger_record_id",
                  "status", "current_step_key", "next_run_at", "workflow_version", "enrolled_at", "attempts")


def accepting(workflow: Workflow, now: dt.datetime) -> bool:
    """Active, with steps, and inside its campaign window (if it has one)."""
    return (workflow.status == "active" and bool(workflow.steps)
            and (workflow.starts_at is None or workflow.starts_at <= now)
            and (workflow.ends_at is None or now < workflow.ends_at))


def enroll_from_events(session: Session, *, now: dt.datetime,
                       profile_ids: Collection[int] | None = None) -> int:
    """Enroll from new trigger events into every active workflow; returns how many were enrolled.

    With ``profile_ids`` only those profiles are looked at (the near-real-time path) and the
    workflows' checkpoints are left alone, so the periodic run still reads every event.
    """
    workflows = session.scalars(select(Workflow).where(Workflow.status == "active").order_by(Workflow.id))
    changed = None if profile_ids is None else _among(session, profile_ids)
    total = 0
    for workflow in workflows:
        if not accepting(workflow, now):
            continue
        if profile_ids is None or workflow.trigger_type != "date_field":
            query = candidates(workflow, since=window_start(workflow, now), now=now, profiles=changed)
            if query is not None:
                total += insert_enrollments(session, workflow, query, now=now)
        if profile_ids is None:
            workflow.events_checked_at = now
    return total


def window_start(workflow: Workflow, now: dt.datetime) -> dt.datetime:
    checked = workflow.events_checked_at or workflow.activated_at or now
    bounds = [checked - LOOKBACK]
    bounds += [b for b in (workflow.activated_at, workflow.starts_at) if b is not None]
    return max(bounds)


Among = Callable[[Any], ColumnElement[bool]]  # "this profile id column is one of the changed ids"


def _among(session: Session, profile_ids: Collection[int]) -> Among:
    ids = sorted(profile_ids)
    if session.get_bind().dialect.name == "postgresql":
        # integer[] as the profile id columns: integer = bigint has two hash functions, so
        # PostgreSQL would not hash the array and would scan it once per event. Sent compactly
        # (id_arrays.py): as a list, 355,000 ids cost psycopg 90 MB to send.
        array = id_array(session, "changed_profile_ids", ids)
        return lambda column: column == any_(array)
    values = id_values(session, ids)  # SQLite builds a temporary index for IN (SELECT ...)
    return lambda column: column.in_(select(values.c.id))


def candidates(workflow: Workflow, *, since: dt.datetime, now: dt.datetime,
               profiles: Among | None = None) -> Select[Any] | None:
    """Rows (profile_id, trigger_key, record type, record id) the trigger enrolls for (since, now];
    ``profiles`` limits them to some profiles."""
    if workflow.trigger_type == "segment_entered":
        return _segment_entries(workflow, since=since, now=now, profiles=profiles)
    if workflow.trigger_type == "tag_added":
        return _tags_added(workflow, since=since, now=now, profiles=profiles)
    return _dates_reached(workflow, since=since, now=now)


def _segment_entries(workflow: Workflow, *, since: dt.datetime, now: dt.datetime,
                     profiles: Among | None) -> Select[Any] | None:
    if workflow.trigger_segment_id is None:
        return None
    event = SegmentEvent
    record_type, record_id = record_pick(workflow.trigger_config, profile_id=event.profile_id)
    query = (
        select(event.profile_id, _key("segment_event:", event.id),
               literal(record_type, String), _record_id(record_id))
        .where(event.segment_id == workflow.trigger_segment_id, event.kind == "entered",
               event.occurred_at > since, event.occurred_at <= now,
               reentry_allowed(workflow, profile_id=event.profile_id, occurred_at=event.occurred_at, now=now))
        .order_by(event.id)
    )
    return query.where(profiles(event.profile_id)) if profiles is not None else query


def _tags_added(workflow: Workflow, *, since: dt.datetime, now: dt.datetime,
                profiles: Among | None) -> Select[Any] | None:
    if workflow.trigger_tag_id is None:
        return None
    event = TagEvent
    entity = str(workflow.trigger_config.get("entity") or "profile")
    record_id: Any
    if entity == "profile":
        record_type, record_id = record_pick(workflow.trigger_config, profile_id=event.profile_id)
    else:
        record_type, record_id = entity, event.entity_id
    query = (
        select(event.profile_id, _key("tag_event:", event.id),
               literal(record_type, String), _record_id(record_id))
        .where(event.tag_id == workflow.trigger_tag_id, event.action == "added", event.entity_type == entity,
               event.occurred_at > since, event.occurred_at <= now,
               reentry_allowed(workflow, profile_id=event.profile_id, occurred_at=event.occurred_at, now=now))
        .order_by(event.id)
    )
    return query.where(profiles(event.profile_id)) if profiles is not None else query


def _dates_reached(workflow: Workflow, *, since: dt.datetime, now: dt.datetime) -> Select[Any]:
    """Records whose date plus the offset falls in (since, now]: -3 days fires three days before."""
    config = workflow.trigger_config
    record_type, field = str(config["record"]), str(config["field"])
    model = record_model(record_type)
    column = getattr(model, field)
    offset = dt.timedelta(days=int(config.get("offset_days") or 0))
    query = (
        select(model.profile_id,
               _key(f"{record_type}:", model.id).concat(f":{field}:").concat(sql_cast(column, String)),
               literal(record_type, String), model.id)
        .where(column.is_not(None), column > since - offset, column <= now - offset,
               reentry_allowed(workflow, profile_id=model.profile_id, occurred_at=literal(now, UTCDateTime()),
                               now=now))
        .order_by(model.id)
    )
    if statuses := list(config.get("statuses") or []):
        query = query.where(status_column(record_type).in_(statuses))
    return query


def existing_members(workflow: Workflow, *, now: dt.datetime) -> Select[Any] | None:
    """Who is in the trigger segment (or has the trigger tag) right now and may enroll."""
    stamp = f"existing:{int(now.timestamp())}:"
    at = literal(now, UTCDateTime())
    if workflow.trigger_type == "segment_entered" and workflow.trigger_segment_id is not None:
        member = SegmentMember
        record_type, record_id = record_pick(workflow.trigger_config, profile_id=member.profile_id)
        return (select(member.profile_id, _key(stamp, member.profile_id), literal(record_type, String),
                       _record_id(record_id))
                .where(member.segment_id == workflow.trigger_segment_id,
                       reentry_allowed(workflow, profile_id=member.profile_id, occurred_at=at, now=now))
                .order_by(member.profile_id))
    if workflow.trigger_type == "tag_added" and workflow.trigger_tag_id is not None:
        tagged = ProfileTag
        record_type, record_id = record_pick(workflow.trigger_config, profile_id=tagged.entity_id)
        return (select(tagged.entity_id, _key(stamp, tagged.entity_id), literal(record_type, String),
                       _record_id(record_id))
                .where(tagged.tag_id == workflow.trigger_tag_id,
                       reentry_allowed(workflow, profile_id=tagged.entity_id, occurred_at=at, now=now))
                .order_by(tagged.entity_id))
    if workflow.trigger_type == "date_field":
        return _dates_reached(workflow, since=now - dt.timedelta(days=1), now=now)
    return None


def enroll_existing_members(session: Session, workflow: Workflow, *, now: dt.datetime) -> int:
    query = existing_members(workflow, now=now)
    return insert_enrollments(session, workflow, query, now=now) if query is not None else 0


def insert_enrollments(session: Session, workflow: Workflow, query: Select[Any], *, now: dt.datetime) -> int:
    """INSERT ... SELECT the candidates as active enrollments at the first step, due at once."""
    first_key = workflow.steps[0]["key"]
    rows = query.add_columns(
        literal("active", String), literal(first_key, String), literal(now, UTCDateTime()),
        literal(workflow.version, Integer), literal(now, UTCDateTime()), literal(0, Integer),
    )
    rows = rows.with_only_columns(literal(workflow.id, Integer), *rows.selected_columns)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    if dialect == "postgresql":
        # The candidates are found before the first row is written: planned against an enrollment
        # table that is empty (a new workflow), the re-entry check became a scan per candidate of
        # the rows the statement itself was inserting, quadratic in the candidates (minutes at 355k).
        chosen = rows.cte("candidates").prefix_with("MATERIALIZED")
        rows = select(*chosen.c)
    statement = (insert(cast(Table, Enrollment.__table__)).from_select(list(ENROLL_COLUMNS), rows)
                 .on_conflict_do_nothing())
    return execute_count(session, statement)


def _key(prefix: str, column: Any) -> Any:
    return literal(prefix, String).concat(sql_cast(column, String))


def _record_id(expression: Any) -> Any:
    return expression if expression is not None else literal(None, Integer)

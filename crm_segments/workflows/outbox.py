"""Send steps hand their message to the outbox; its row is unique by the dedupe key
``enrollment:{id}:step:{key}``, so however often a step is attempted (retries, a resumed pause, two
schedulers) at most one message exists for it. The dispatcher then applies consent, quiet hours and
frequency caps before anything leaves.

A batch of enrollments collects its messages and writes them with one multi-row
``INSERT ... ON CONFLICT (dedupe_key) DO NOTHING`` and one SELECT of their ids: the same rows
``crm_segments.messages.outbox.enqueue_message`` writes one at a time, without a round trip per
message (10,000 profiles entering a segment at once is one statement per 500).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm_segments.models import Enrollment, Message, Workflow


def dedupe_key(enrollment_id: int, step_key: str) -> str:
    return f"enrollment:{enrollment_id}:step:{step_key}"


def message_context(enrollment: Enrollment) -> dict[str, Any]:
    """What the template sees besides the profile: the record that triggered the enrollment."""
    context: dict[str, Any] = {}
    if enrollment.trigger_record_type and enrollment.trigger_record_id is not None:
        context["record_type"] = enrollment.trigger_record_type
        context["record_id"] = enrollment.trigger_record_id
    return context


@dataclass
class PendingMessage:
    """A message a step asked for, written with the rest of its batch."""

    values: dict[str, Any]
    logs: list[dict[str, Any]] = field(default_factory=list)  # step log rows that point at it


def message_values(*, workflow: Workflow, enrollment: Enrollment, step: dict[str, Any], channel: str,
                   category: str, now: dt.datetime, owner_id: int | None = None) -> dict[str, Any]:
    """The message row, column by column as ``enqueue_message`` writes it."""
    context = message_context(enrollment)
    return {
        "dedupe_key": dedupe_key(enrollment.id, step["key"]), "profile_id": enrollment.profile_id,
        "channel": channel, "category": category, "template_key": step["template"], "context": context,
        "workflow_id": workflow.id, "enrollment_id": enrollment.id, "step_key": step["key"],
        "recipient_user_id": owner_id, "to_address": None, "record_type": context.get("record_type"),
        "record_id": context.get("record_id"), "next_attempt_at": now, "expires_at": None,
        "status": "pending", "created_at": now, "updated_at": now,
    }


def write_messages(session: Session, pending: list[PendingMessage]) -> None:
    """Insert the messages not queued before (by dedupe key) and point their step logs at them."""
    if not pending:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(cast(Table, Message.__table__)).on_conflict_do_nothing(index_elements=["dedupe_key"])
    session.execute(statement, [p.values for p in pending])
    keys = [p.values["dedupe_key"] for p in pending]
    found = session.execute(select(Message.dedupe_key, Message.id).where(Message.dedupe_key.in_(keys)))
    ids = {key: message_id for key, message_id in found}
    for message in pending:
        for log in message.logs:
            log["message_id"] = ids[message.values["dedupe_key"]]
    pending.clear()


def cancel_unsent(session: Session, *, reason: str, now: dt.datetime, enrollment_id: int | None = None,
                  workflow_id: int | None = None) -> int:
    """An enrollment (or a whole workflow) ended: its messages not yet handed over are skipped."""
    from crm_segments.messages.outbox import cancel_pending

    return cancel_pending(session, reason=reason, enrollment_id=enrollment_id, workflow_id=workflow_id,
                          now=now)

"""Queue a message: the one call a workflow step (or a test send) makes.

``enqueue_message`` inserts a row unique by ``dedupe_key``; asking again with the same key, from any
number of processes at once, returns the existing row and sends nothing more. Rendering, consent,
quiet hours and frequency caps are applied when the dispatcher picks the message up.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm_segments.db import utcnow
from crm_segments.kernel.errors import Conflict, NotFound
from crm_segments.models import Message
from crm_segments.models.messaging import CHANNELS, MESSAGE_CATEGORIES


def enqueue_message(session: Session, *, dedupe_key: str, profile_id: int, channel: str, template: str,
                    context: dict[str, Any] | None = None, category: str = "marketing",
                    workflow_id: int | None = None, enrollment_id: int | None = None,
                    step_key: str | None = None, recipient_user_id: int | None = None,
                    to_address: str | None = None, send_at: dt.datetime | None = None,
                    expires_at: dt.datetime | None = None, now: dt.datetime | None = None) -> Message:
    """Queue one message, or return the one already queued under ``dedupe_key``.

    ``context`` may name the record the template shows (``record_type``/``record_id``, e.g. a quote);
    its other keys are passed to the template as they are. ``recipient_user_id`` sends to a user
    (the profile's owner) instead of the profile; ``to_address`` overrides the address.
    """
    if channel not in CHANNELS:
        raise ValueError(f"channel: {channel!r} is not one of {', '.join(CHANNELS)}")
    if category not in MESSAGE_CATEGORIES:
        raise ValueError(f"category: {category!r} is not one of {', '.join(MESSAGE_CATEGORIES)}")
    context = dict(context or {})
    now = now or utcnow()
    values: dict[str, Any] = {
        "dedupe_key": dedupe_key, "profile_id": profile_id, "channel": channel, "category": category,
        "template_key": template, "context": context, "workflow_id": workflow_id,
        "enrollment_id": enrollment_id, "step_key": step_key, "recipient_user_id": recipient_user_id,
        "to_address": to_address, "record_type": context.get("record_type"),
        "record_id": context.get("record_id"), "next_attempt_at": send_at or now, "expires_at": expires_at,
        "status": "pending", "created_at": now, "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # ON CONFLICT DO NOTHING: a concurrent insert of the same key waits for the first and then yields.
    session.execute(insert(Message).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"]))
    return session.scalars(select(Message).where(Message.dedupe_key == dedupe_key)).one()


def send_test_message(session: Session, *, template: str, channel: str, profile_id: int, user_id: int,
                      to_address: str, record: tuple[str, int] | None = None) -> Message:
    """A one-off send of a template, rendered for a real profile, to the user's own address."""
    context = {"record_type": record[0], "record_id": record[1]} if record else {}
    return enqueue_message(session, dedupe_key=f"test-send:{uuid.uuid4().hex}", profile_id=profile_id,
                           channel=channel, template=template, context=context, category="test",
                           recipient_user_id=user_id, to_address=to_address)


def cancel_pending(session: Session, *, reason: str, enrollment_id: int | None = None,
                   workflow_id: int | None = None, now: dt.datetime | None = None) -> int:
    """Skip messages not yet handed to a provider (an enrollment exited, a workflow was archived)."""
    if enrollment_id is None and workflow_id is None:
        raise ValueError("cancel_pending needs an enrollment_id or a workflow_id")
    statement = update(Message).where(Message.status == "pending")
    if enrollment_id is not None:
        statement = statement.where(Message.enrollment_id == enrollment_id)
    if workflow_id is not None:
        statement = statement.where(Message.workflow_id == workflow_id)
    result = session.execute(
        statement.values(status="skipped", status_reason=reason[:200], claim_token=None, claimed_until=None,
                         updated_at=now or utcnow()).execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def requeue_message(session: Session, message_id: int, *, now: dt.datetime | None = None) -> Message:
    """Send a failed, unknown or unconfirmed message again: a person's decision (an unknown one may have
    arrived)."""
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound(f"message {message_id} does not exist")
    if message.status not in ("failed", "unknown", "unconfirmed"):
        raise Conflict("status", "only failed, unknown or unconfirmed messages can be sent again, not "
                                 f"{message.status}")
    message.status, message.status_reason, message.next_attempt_at = "pending", None, now or utcnow()
    message.attempts = 0
    message.claim_token = message.claimed_until = None
    session.flush()
    return message


def local_outbox(session: Session, *, channel: str | None = None, limit: int = 100) -> list[Message]:
    """The latest messages written to the local outbox (no provider configured), newest first."""
    query = select(Message).where(Message.provider == "local", Message.sent_at.is_not(None))
    if channel in CHANNELS:
        query = query.where(Message.channel == channel)
    return list(session.scalars(query.order_by(Message.sent_at.desc(), Message.id.desc()).limit(limit)))

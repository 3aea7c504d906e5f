"""Unconfirmed messages: ``unknown`` ones (the sender never heard the provider's answer) that no delivery
event settled within CRM_SEGMENTS_UNCONFIRMED_AFTER (claims.recover_stalled moves them). Nothing sends
them again on its own: a person decides, in bulk, for every unconfirmed message the message log's
filters select (or the ids given):

- send them again: back to ``pending`` and due now (one may have arrived after all: its recipient then
  gets a second copy);
- close them: ``failed``, with who closed them; a delivery event that still comes moves one forward,
  as for any message.

Each is one UPDATE of the selected rows that are still unconfirmed, so a message a delivery event
settled in between is left alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.orm import Session

from crm_segments.models import Message

from .message_log import MessageFilter


class Decide(Protocol):
    def __call__(self, session: Session, *, filters: MessageFilter, ids: Sequence[int] | None = None,
                 actor: str, now: dt.datetime) -> int: ...


def _selected(filters: MessageFilter, ids: Sequence[int] | None) -> ColumnElement[bool]:
    condition = and_(Message.status == "unconfirmed", filters.condition())
    return condition if ids is None else and_(condition, Message.id.in_(ids))


def count_unconfirmed(session: Session, filters: MessageFilter) -> int:
    """The unconfirmed messages the filters select (whatever status they name)."""
    return int(session.scalar(select(func.count()).select_from(Message)
                              .where(_selected(_without_status(filters), None))) or 0)


def send_again(session: Session, *, filters: MessageFilter, ids: Sequence[int] | None = None, actor: str,
               now: dt.datetime) -> int:
    """Queue the selected unconfirmed messages again; returns how many."""
    return _decide(session, filters, ids, {
        "status": "pending", "next_attempt_at": now, "attempts": 0,
        "status_reason": f"sent again by {actor} without a confirmation"[:200]}, now=now)


def close(session: Session, *, filters: MessageFilter, ids: Sequence[int] | None = None, actor: str,
          now: dt.datetime) -> int:
    """Close the selected unconfirmed messages as failed; returns how many."""
    return _decide(session, filters, ids, {
        "status": "failed", "failed_at": now,
        "status_reason": f"closed by {actor}: no delivery event confirmed it"[:200]}, now=now)


def _decide(session: Session, filters: MessageFilter, ids: Sequence[int] | None, values: dict[str, Any], *,
            now: dt.datetime) -> int:
    result = session.execute(
        update(Message).where(_selected(_without_status(filters), ids))
        .values(**values, claim_token=None, claimed_until=None, updated_at=now)
        .execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def _without_status(filters: MessageFilter) -> MessageFilter:
    return replace(filters, status=None)

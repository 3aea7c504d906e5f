"""Quotes awaiting an answer (sent, not yet accepted or declined), oldest first, with the state of
the workflow following each one up (enrolled, its next step, when that step runs)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.models import Enrollment, Profile, Quote, Workflow

AWAITING = "sent"


@dataclass(frozen=True)
class FollowUp:
    workflow_id: int
    workflow_name: str
    status: str  # the enrollment's: active, completed, exited, goal_met
    step_label: str | None  # the next step, while active
    step_number: int | None
    step_count: int
    next_run_at: dt.datetime | None


@dataclass(frozen=True)
class AwaitingQuote:
    quote_id: int
    number: str
    total: Decimal
    currency: str
    sent_at: dt.datetime | None
    profile_id: int
    profile_name: str
    mine: bool
    follow_up: FollowUp | None


@dataclass(frozen=True)
class AwaitingQuotes:
    rows: list[AwaitingQuote]
    total: int
    mine: int | None  # for a sales person: how many are their customers'


def _name(first: str | None, last: str | None, external_id: str) -> str:
    return " ".join(p for p in (first, last) if p) or external_id


def _page(session: Session, *condition: Any, limit: int) -> list[Any]:
    query = (select(Quote.id, Quote.number, Quote.total, Quote.currency, Quote.sent_at, Profile.id,
                    Profile.first_name, Profile.last_name, Profile.external_id, Profile.owner_id)
             .join(Profile, Profile.id == Quote.profile_id)
             .where(Quote.status == AWAITING, *condition)
             .order_by(Quote.sent_at, Quote.id).limit(limit))
    return list(session.execute(query))


def _step_label(step: dict[str, Any]) -> str:
    return str(step.get("label") or str(step.get("type", "step")).replace("_", " "))


def follow_ups(session: Session, quotes: list[tuple[int, int]]) -> dict[int, FollowUp]:
    """The latest enrollment triggered by each (quote id, profile id), found through the profile index."""
    if not quotes:
        return {}
    quote_ids = [q for q, _ in quotes]
    rows = session.execute(
        select(Enrollment, Workflow)
        .join(Workflow, Workflow.id == Enrollment.workflow_id)
        .where(Enrollment.profile_id.in_([p for _, p in quotes]), Enrollment.trigger_record_type == "quote",
               Enrollment.trigger_record_id.in_(quote_ids))
        .order_by(Enrollment.enrolled_at, Enrollment.id)
    )
    found: dict[int, FollowUp] = {}
    for enrollment, workflow in rows:  # at most a few per quote; the latest wins
        if enrollment.trigger_record_id is None:
            continue
        keys = [s.get("key") for s in workflow.steps]
        step = workflow.step(enrollment.current_step_key) if enrollment.current_step_key else None
        active = enrollment.status == "active"
        found[enrollment.trigger_record_id] = FollowUp(
            workflow.id, workflow.name, enrollment.status,
            _step_label(step) if step and active else None,
            keys.index(enrollment.current_step_key) + 1 if step and active else None,
            len(keys), enrollment.next_run_at if active else None,
        )
    return found


def awaiting_quotes(session: Session, *, owner_id: int | None = None, limit: int = 10) -> AwaitingQuotes:
    """The oldest quotes awaiting an answer; with ``owner_id``, that person's customers' first."""
    rows = []
    mine_total = None
    if owner_id is not None:
        rows = _page(session, Profile.owner_id == owner_id, limit=limit)
        mine_total = session.scalar(
            select(func.count()).select_from(Quote).join(Profile, Profile.id == Quote.profile_id)
            .where(Quote.status == AWAITING, Profile.owner_id == owner_id)) or 0
        if len(rows) < limit:
            others = Profile.owner_id.is_distinct_from(owner_id)
            rows += _page(session, others, limit=limit - len(rows))
    else:
        rows = _page(session, limit=limit)
    total = session.scalar(select(func.count()).select_from(Quote).where(Quote.status == AWAITING)) or 0
    states = follow_ups(session, [(row[0], row[5]) for row in rows])
    return AwaitingQuotes(
        [AwaitingQuote(quote_id, number, amount, currency, sent_at, profile_id, _name(first, last, ext),
                       owner_id is not None and owner == owner_id, states.get(quote_id))
         for quote_id, number, amount, currency, sent_at, profile_id, first, last, ext, owner in rows],
        total, mine_total,
    )

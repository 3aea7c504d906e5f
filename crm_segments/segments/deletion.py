"""Deleting a tag, segment or template that something uses: refused, or the users detached.

Detaching pauses every active workflow that uses it and records why on the workflow (paused ones
keep their state and get the reason too), so nothing stops firing unnoticed. A segment's or
auto-tag rule's condition is never detached: with the condition gone (or naming something that no
longer exists) the rule would match other people without anyone noticing, so a person changes
those rules first and the delete is refused until then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.models import User, Workflow
from crm_segments.segments.usages import Use

OnUse = Literal["refuse", "detach"]
ON_USE: tuple[OnUse, ...] = ("refuse", "detach")
KIND_LABELS = {"workflow": "workflow", "segment": "segment", "auto_tag_rule": "auto-tag rule"}


class InUse(Exception):
    """``what`` is used by ``uses``; nothing was changed."""

    def __init__(self, what: str, uses: Sequence[Use]) -> None:
        self.what = what
        self.uses = list(uses)
        super().__init__(self.message)

    @property
    def conditions(self) -> list[Use]:
        return [u for u in self.uses if u.is_condition]

    @property
    def message(self) -> str:
        users = ", ".join(dict.fromkeys(f"{KIND_LABELS[u.kind]} {u.name!r}" for u in self.uses))
        if self.conditions:
            rules = ", ".join(dict.fromkeys(f"{KIND_LABELS[u.kind]} {u.name!r}" for u in self.conditions))
            return f"{self.what} is used by {users}; change the conditions of {rules} first"
        return f"{self.what} is used by {users}; delete with on_use=detach to pause the workflows that use it"


def check_deletable(what: str, uses: Sequence[Use], on_use: str) -> None:
    """Raise InUse unless nothing uses it, or the admin detaches and no rule condition uses it."""
    if on_use not in ON_USE:
        raise ValidationFailed([FieldError("on_use", f"must be one of: {', '.join(ON_USE)}")])
    if any(u.is_condition for u in uses) or (uses and on_use != "detach"):
        raise InUse(what, uses)


def deletion_reason(session: Session, what: str, *, user_id: int | None, now: dt.datetime) -> str:
    """e.g. "tag 'vip' was deleted at 2026-12-04 19:10 UTC by Ada Admin"."""
    who = session.scalar(select(func.coalesce(func.nullif(User.name, ""), User.email))
                         .where(User.id == user_id)) if user_id is not None else None
    at = now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{what} was deleted at {at}" + (f" by {who}" if who else "")


def pause_workflows(session: Session, uses: Sequence[Use], *, reason: str) -> list[Workflow]:
    """Pause the active workflows among ``uses`` and give them (and paused ones) the reason."""
    ids = {u.id for u in uses if u.kind == "workflow"}
    if not ids:
        return []
    changed = []
    for workflow in session.scalars(select(Workflow).where(Workflow.id.in_(ids)).order_by(Workflow.id)):
        if workflow.status not in ("active", "paused"):
            continue  # a draft or an archived workflow is not running: nothing stops firing
        workflow.status = "paused"
        workflow.paused_reason = f"{workflow.paused_reason}; {reason}" if workflow.paused_reason else reason
        changed.append(workflow)
    session.flush()
    return changed

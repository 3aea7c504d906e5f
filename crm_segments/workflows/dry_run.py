"""Dry run: who the workflow would enroll now, and the first thing each of them would get.

Nothing is written. The candidates come from the same SQL as real enrollment (current members of
the trigger segment, holders of the trigger tag, records whose date is reached), with the re-entry
policy applied; the first message is found by walking the steps as the engine would, with waits
computed in each profile's time zone and branch rules evaluated for the sample.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.models import Profile, Workflow

from . import rules
from .editing import get_workflow
from .step_types import EXIT, NEXT
from .triggers import existing_members
from .waits import wait_end


@dataclass(frozen=True)
class DryRunRow:
    profile: Profile
    action: str                     # "Email sales/quote_follow_up", "Exit", "Nothing"
    at: dt.datetime | None          # when it would happen
    step_key: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DryRun:
    total: int
    rows: list[DryRunRow]


def dry_run(*, session: Session, workflow_id: int, now: dt.datetime, limit: int = 50) -> DryRun:
    workflow = get_workflow(session=session, workflow_id=workflow_id)
    query = existing_members(workflow, now=now)
    if query is None:
        return DryRun(0, [])
    candidates = query.subquery()
    profile_column = candidates.c[0]
    total = int(session.scalar(select(func.count(profile_column.distinct()))) or 0)
    sample = list(session.scalars(
        select(Profile).where(Profile.id.in_(select(profile_column))).order_by(Profile.id).limit(limit)
    ))
    goal_rule = (workflow.goal or {}).get("rule")
    ids = {p.id for p in sample}
    goal_met = rules.matching(session, goal_rule, profile_ids=ids, now=now) if goal_rule else set()
    branches: dict[str, set[int]] = {}
    rows = []
    for profile in sample:
        if profile.id in goal_met:
            rows.append(DryRunRow(profile, "Exit", now, notes=["the goal is already met"]))
            continue
        rows.append(_first_action(session, workflow, profile, now=now, branches=branches, sample_ids=ids))
    return DryRun(total, rows)


def _first_action(session: Session, workflow: Workflow, profile: Profile, *, now: dt.datetime,
                  branches: dict[str, set[int]], sample_ids: set[int]) -> DryRunRow:
    keys = [s["key"] for s in workflow.steps]
    at, notes, index = now, [], 0
    while index < len(keys):
        step: dict[str, Any] = workflow.steps[index]
        kind, index = step["type"], index + 1
        if kind == "wait":
            at = wait_end(step, now=at, time_zone=profile.time_zone)
        elif kind in ("add_tag", "remove_tag"):
            notes.append(f"{'adds' if kind == 'add_tag' else 'removes'} the tag {step['tag']!r} first")
        elif kind == "branch":
            if step["key"] not in branches:
                branches[step["key"]] = rules.matching(session, step["rule"], profile_ids=sample_ids, now=now)
            target = step.get("if_true" if profile.id in branches[step["key"]] else "if_false") or NEXT
            if target == EXIT:
                return DryRunRow(profile, "Exit", at, step["key"], [*notes, "a branch ends it"])
            if target != NEXT:
                index = keys.index(target)
        elif kind == "exit":
            return DryRunRow(profile, "Exit", at, step["key"], notes)
        else:
            notes += _reachability(profile, step)
            label = {"send_email": "Email", "send_sms": "SMS", "notify_owner": "Email to the owner"}[kind]
            return DryRunRow(profile, f"{label} {step['template']}", at, step["key"], notes)
    return DryRunRow(profile, "Nothing", None, None, [*notes, "no message step is reached"])


def _reachability(profile: Profile, step: dict[str, Any]) -> list[str]:
    """Why the dispatcher would hold the message back, if it would."""
    if step["type"] == "notify_owner":
        return [] if profile.owner_id is not None else ["the profile has no owner: skipped"]
    if step["type"] == "send_sms":
        if not profile.phone:
            return ["no phone number: not sent"]
        return [] if profile.sms_consent else ["no SMS consent: not sent"]
    if not profile.email:
        return ["no email address: not sent"]
    if getattr(profile, "email_bounced_at", None) is not None:
        return ["the address bounced: not sent"]
    if not profile.email_consent:  # the dispatcher asks for consent whatever the category
        return ["no email consent: not sent"]
    return []

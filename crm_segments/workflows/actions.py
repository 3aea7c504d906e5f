"""What each step type does for one enrollment. Each returns an ``Outcome`` that the engine logs;
none of them decides what runs next except through the outcome."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crm_segments.models import Enrollment, Workflow

from . import outbox
from .batch import Batch
from .outbox import PendingMessage
from .step_types import EXIT, NEXT
from .waits import wait_end


@dataclass(frozen=True)
class Outcome:
    outcome: str                      # what the step log shows: queued, waiting, branch_true, ...
    detail: str = ""
    message: PendingMessage | None = None  # written with the batch; the step log points at it
    go_to: str = NEXT                 # a later step's key, "next", or "exit"
    resume_at: dt.datetime | None = None


Action = Callable[[Batch, Workflow, Enrollment, dict[str, Any]], Outcome]


def send_email(batch: Batch, workflow: Workflow, enrollment: Enrollment, step: dict[str, Any]) -> Outcome:
    message = _queue(batch, workflow, enrollment, step, channel="email",
                     category=step.get("category", "marketing"))
    return Outcome("queued", f"email {step['template']}", message=message)


def send_sms(batch: Batch, workflow: Workflow, enrollment: Enrollment, step: dict[str, Any]) -> Outcome:
    message = _queue(batch, workflow, enrollment, step, channel="sms",
                     category=step.get("category", "marketing"))
    return Outcome("queued", f"SMS {step['template']}", message=message)


def notify_owner(batch: Batch, workflow: Workflow, enrollment: Enrollment, step: dict[str, Any]) -> Outcome:
    profile = batch.profiles.get(enrollment.profile_id)
    if profile is None or profile.owner_id is None:
        return Outcome("skipped", "the profile has no owner")
    message = _queue(batch, workflow, enrollment, step, channel="email", category="transactional",
                     owner_id=profile.owner_id)
    return Outcome("queued", f"owner email {step['template']}", message=message)


def _queue(batch: Batch, workflow: Workflow, enrollment: Enrollment, step: dict[str, Any], *, channel: str,
           category: str, owner_id: int | None = None) -> PendingMessage:
    message = PendingMessage(outbox.message_values(workflow=workflow, enrollment=enrollment, step=step,
                                                   channel=channel, category=category, now=batch.now,
                                                   owner_id=owner_id))
    batch.messages.append(message)
    return message


def wait(batch: Batch, workflow: Workflow, enrollment: Enrollment, step: dict[str, Any]) -> Outcome:
    profile = batch.profiles.get(enrollment.profile_id)
    until = wait_end(step, now=batch.now, time_zone=profile.time_zone if profile else None)
    return Outcome("waiting", f"until {until:%Y-%m-%d %H:%M} UTC", resume_at=until)


def branch(batch: Batch, workflow: Workflow, enrollment: Enrollment, step: dict[str, Any]) -> Outcome:
    matched = enrollment.profile_id in batch.branch_matches(workflow, step["key"], step["rule"])
    target = str(step.get("if_true" if matched else "if_false") or NEXT)
    return Outcome("branch_true" if matched else "branch_false", f"go to {target}", go_to=target)


def add_tag(batch: Batch, workflow: Workflow, enrollment: Enrollment, step: dict[str, Any]) -> Outcome:
    from crm_segments.tagging.manual import add_tag as tag_entity

    change = tag_entity(session=batch.session, entity_type="profile", entity_id=enrollment.profile_id,
                        tag_name=step["tag"], source="workflow", now=batch.now)
    if change.changed:
        batch.changed_profiles.add(enrollment.profile_id)
    return Outcome("tag_added" if change.changed else "unchanged", step["tag"])


def remove_tag(batch: Batch, workflow: Workflow, enrollment: Enrollment, step: dict[str, Any]) -> Outcome:
    from crm_segments.tagging.manual import remove_tag as untag_entity
    from crm_segments.tagging.names import find_tag

    if find_tag(session=batch.session, name=step["tag"]) is None:
        return Outcome("unchanged", f"{step['tag']} (no such tag)")
    change = untag_entity(session=batch.session, entity_type="profile", entity_id=enrollment.profile_id,
                          tag_name=step["tag"], source="workflow", now=batch.now)
    if change.changed:
        batch.changed_profiles.add(enrollment.profile_id)
    return Outcome("tag_removed" if change.changed else "unchanged", step["tag"])


def exit_step(batch: Batch, workflow: Workflow, enrollment: Enrollment, step: dict[str, Any]) -> Outcome:
    return Outcome("exit", step.get("reason") or "exit step", go_to=EXIT)


ACTIONS: dict[str, Action] = {
    "send_email": send_email,
    "send_sms": send_sms,
    "notify_owner": notify_owner,
    "wait": wait,
    "branch": branch,
    "add_tag": add_tag,
    "remove_tag": remove_tag,
    "exit": exit_step,
}

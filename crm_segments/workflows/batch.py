"""What a batch of claimed enrollments needs, loaded with a handful of set-based queries: the
workflows, the profiles, the steps each enrollment already ran, whose goal is met, who left the
trigger segment, and (lazily) which profiles each branch rule matches."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from crm_segments.models import Enrollment, EnrollmentStep, Profile, Workflow

from . import goals, outbox, rules
from .outbox import PendingMessage


@dataclass
class Batch:
    session: Session
    now: dt.datetime
    enrollments: Sequence[Enrollment]
    workflows: dict[int, Workflow]
    profiles: dict[int, Profile]
    ran: dict[int, set[str]]                 # enrollment id -> step keys already run
    goal_met: set[int]                       # enrollment ids
    left_segment: set[tuple[int, int]]       # (workflow id, profile id)
    broken: dict[int, Exception]             # workflow id -> why its goal or exit check failed
    changed_profiles: set[int] = field(default_factory=set)  # tags changed: re-evaluate segments
    messages: list[PendingMessage] = field(default_factory=list)  # queued by steps, not yet written
    logs: list[dict[str, Any]] = field(default_factory=list)  # step log rows, not yet written
    _branches: dict[tuple[int, str], set[int]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, enrollments: Sequence[Enrollment], *, now: dt.datetime) -> Batch:
        workflow_ids = {e.workflow_id for e in enrollments}
        workflows = {w.id: w for w in session.scalars(select(Workflow).where(Workflow.id.in_(workflow_ids)))}
        profile_ids = {e.profile_id for e in enrollments}
        profiles = {p.id: p for p in session.scalars(select(Profile).where(Profile.id.in_(profile_ids)))}
        ran: dict[int, set[str]] = defaultdict(set)
        rows = session.execute(select(EnrollmentStep.enrollment_id, EnrollmentStep.step_key)
                               .where(EnrollmentStep.enrollment_id.in_([e.id for e in enrollments])))
        for enrollment_id, step_key in rows:
            ran[enrollment_id].add(step_key)
        goal_met: set[int] = set()
        left: set[tuple[int, int]] = set()
        broken: dict[int, Exception] = {}
        for workflow_id, members in _by_workflow(enrollments).items():
            workflow = workflows[workflow_id]
            try:  # a goal rule that no longer compiles stops its own workflow, not the batch
                with session.begin_nested():
                    goal_met |= goals.goal_met(session, workflow, members, now=now)
                    outside = goals.outside_segment(session, workflow, {e.profile_id for e in members})
            except Exception as exc:  # noqa: BLE001
                broken[workflow_id] = exc
                continue
            left |= {(workflow_id, profile_id) for profile_id in outside}
        return cls(session, now, enrollments, workflows, profiles, ran, goal_met, left, broken)

    def write(self) -> None:
        """Write the messages and step log rows collected so far (a few multi-row statements)."""
        outbox.write_messages(self.session, self.messages)
        if self.logs:
            self.session.execute(insert(cast(Table, EnrollmentStep.__table__)), self.logs)
            self.logs.clear()

    def discard(self) -> None:
        self.messages.clear()
        self.logs.clear()

    def branch_matches(self, workflow: Workflow, step_key: str, rule: dict[str, Any]) -> set[int]:
        """Profiles of this batch's enrollments in ``workflow`` that the branch rule matches."""
        cache_key = (workflow.id, step_key)
        if cache_key not in self._branches:
            ids = {e.profile_id for e in self.enrollments if e.workflow_id == workflow.id}
            self._branches[cache_key] = rules.matching(self.session, rule, profile_ids=ids, now=self.now)
        return self._branches[cache_key]


def _by_workflow(enrollments: Sequence[Enrollment]) -> dict[int, list[Enrollment]]:
    grouped: dict[int, list[Enrollment]] = defaultdict(list)
    for enrollment in enrollments:
        grouped[enrollment.workflow_id].append(enrollment)
    return grouped

"""The scheduled targets: each takes the extension's state and the time, ``(state, *, now)``, and hands
the domain job what it needs (most need only the session factory)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from crm_segments.segments.refresh import refresh_due_segments
from crm_segments.state import State
from crm_segments.tagging.auto import run_auto_tag_rules
from crm_segments.tasks.worker import run_pending_tasks
from crm_segments.workflows.engine import advance_due, enroll_due


def refresh_due(state: State, *, now: dt.datetime) -> Any:
    return refresh_due_segments(state.session_factory, now=now,
                                nightly_full=state.settings.nightly_full_refresh)


def run_pending(state: State, *, now: dt.datetime) -> Any:
    return run_pending_tasks(state.session_factory, state.task_kinds, now=now)


def auto_tag_rules(state: State, *, now: dt.datetime) -> Any:
    return run_auto_tag_rules(state.session_factory, now=now)


def enroll(state: State, *, now: dt.datetime) -> Any:
    return enroll_due(state.session_factory, now=now)


def advance(state: State, *, now: dt.datetime) -> Any:
    return advance_due(state.session_factory, now=now)

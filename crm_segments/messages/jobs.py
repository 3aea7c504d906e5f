"""Scheduled job targets for messaging: ``(state, *, now)``, no Flask app needed."""

from __future__ import annotations

import datetime as dt
import logging

from crm_segments.state import State

from .dispatch import DispatchReport, dispatch_all

log = logging.getLogger(__name__)

# A run keeps sending batch after batch while a full batch is due, for at most this long; the next
# run (every few seconds) carries on.
SEND_BUDGET_SECONDS = 50.0


def dispatch_due_messages(state: State, *, now: dt.datetime) -> DispatchReport:
    report = dispatch_all(state.session_factory, settings=state.settings, now=now, base_url=state.base_url,
                          workers=state.settings.messaging.send_threads, budget=SEND_BUDGET_SECONDS)
    if report.claimed or report.recovered:
        log.info("messages: %s claimed, %s recovered, %s", report.claimed, report.recovered, report.outcomes)
    return report


def scheduled_dispatch(state: State, *, now: dt.datetime) -> DispatchReport:
    """The scheduler's send job: nothing when `crm-segments worker` processes send instead
    (CRM_SEGMENTS_SCHEDULER_SENDS=false); the scheduler still makes messages due (workflow steps)."""
    if not state.settings.scheduler_sends:
        return DispatchReport()
    return dispatch_due_messages(state, now=now)

"""Scheduled job targets for messaging; they run inside the scheduler's app context."""

from __future__ import annotations

import datetime as dt
import logging

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.extension import get_state

from .dispatch import DispatchReport, dispatch_all

log = logging.getLogger(__name__)

# A run keeps sending batch after batch while a full batch is due, for at most this long; the next
# run (every few seconds) carries on.
SEND_BUDGET_SECONDS = 50.0


def dispatch_due_messages(session_factory: sessionmaker[Session], *, now: dt.datetime) -> DispatchReport:
    from crm_segments.web.webhooks import public_base_url

    state = get_state(current_app)
    report = dispatch_all(session_factory, settings=state.settings, now=now,
                          base_url=public_base_url(current_app),
                          workers=state.settings.messaging.send_threads, budget=SEND_BUDGET_SECONDS)
    if report.claimed or report.recovered:
        log.info("messages: %s claimed, %s recovered, %s", report.claimed, report.recovered, report.outcomes)
    return report


def scheduled_dispatch(session_factory: sessionmaker[Session], *, now: dt.datetime) -> DispatchReport:
    """The scheduler's send job: nothing when `crm-segments worker` processes send instead
    (CRM_SEGMENTS_SCHEDULER_SENDS=false); the scheduler still makes messages due (workflow steps)."""
    if not get_state(current_app).settings.scheduler_sends:
        return DispatchReport()
    return dispatch_due_messages(session_factory, now=now)

"""Scheduled job targets for messaging; they run inside the scheduler's app context."""

from __future__ import annotations

import datetime as dt
import logging

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.extension import get_state

from .dispatch import DispatchReport, dispatch_due

log = logging.getLogger(__name__)


def dispatch_due_messages(session_factory: sessionmaker[Session], *, now: dt.datetime) -> DispatchReport:
    from crm_segments.web.webhooks import public_base_url

    state = get_state(current_app)
    # Provider round trips dominate; PostgreSQL takes concurrent senders, SQLite has one writer.
    workers = 4 if state.engine.dialect.name == "postgresql" else 1
    report = dispatch_due(session_factory, settings=state.settings, now=now,
                          base_url=public_base_url(current_app), workers=workers)
    if report.claimed or report.recovered:
        log.info("messages: %s claimed, %s recovered, %s", report.claimed, report.recovered, report.outcomes)
    return report

"""Send due messages exactly once.

For each message: (1) a claim is committed (claims.py); (2) one transaction takes the claim, checks
consent, quiet hours and caps (gates.py), renders it and commits ``sending``; (3) the channel is
called with no transaction open; (4) a second transaction records the outcome. A crash between (3)
and (4) leaves ``sending``: after the lease it becomes ``unknown`` and is settled by delivery events
instead of being sent again (claims.recover_stalled). Each message has its own transactions, so one
refused recipient or one failing row never stops or undoes the rest of the batch.

On PostgreSQL, step (2) first takes an advisory lock on the profile, so two dispatchers cannot both
pass the same profile's frequency cap; on SQLite the first statement of (2) is a write, which makes
SQLite's single writer do the same.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.config import Settings
from crm_segments.db import utcnow
from crm_segments.models import Message, Profile

from . import claims, gates, links
from .channels import (
    Accepted,
    AmbiguousError,
    Channel,
    Outgoing,
    PermanentError,
    RetryableError,
    SendError,
    make_channels,
)
from .compose import unsubscribe_link
from .consent import set_consent
from .retry import MAX_ATTEMPTS, retry_delay
from .template_store import TemplateCache

log = logging.getLogger(__name__)

CLAIM_LEASE = dt.timedelta(minutes=5)
# Far longer than a provider call can take (timeout 10 s): a row older than this in "sending" has
# lost its sender.
SENDING_LEASE = dt.timedelta(minutes=5)
_PROFILE_LOCK_NAMESPACE = 0x43524D  # "CRM": the first key of pg_advisory_xact_lock(int, int)


@dataclass
class DispatchReport:
    claimed: int = 0
    recovered: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # sent, retry, failed, unknown, suppressed...
    errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def __getitem__(self, outcome: str) -> int:
        return self.outcomes.get(outcome, 0)


def dispatch_due(session_factory: sessionmaker[Session], *, settings: Settings,
                 now: dt.datetime | None = None, limit: int = 500,
                 channels: dict[str, Channel] | None = None, base_url: str | None = None,
                 claim_lease: dt.timedelta = CLAIM_LEASE, sending_lease: dt.timedelta = SENDING_LEASE,
                 workers: int = 1) -> DispatchReport:
    """Send up to ``limit`` due messages; returns what happened to each.

    ``workers`` > 1 sends that many messages at a time (threads; each message keeps its own
    transactions), which pays off on PostgreSQL where provider round trips dominate.
    """
    now = now or utcnow()
    channels = channels if channels is not None else make_channels(settings)
    base_url = base_url or settings.public_url
    report = DispatchReport(recovered=claims.recover_stalled(session_factory, now=now, lease=sending_lease))
    token, claimed = claims.claim_due(session_factory, now=now, limit=limit, lease=claim_lease)
    report.claimed = len(claimed)
    templates = TemplateCache()
    stopped: set[str] = set()  # channels whose credentials were refused: the rest of the batch waits
    unattempted: list[int] = []

    def run(item: claims.Claimed) -> None:
        if item.channel in stopped:
            unattempted.append(item.id)
            return
        try:
            outcome = _dispatch_one(session_factory, item, token=token, channel=channels[item.channel],
                                    settings=settings, base_url=base_url, now=now, templates=templates)
        except Exception:  # this message only; its claim expires and another run retries it
            log.exception("message %s could not be dispatched", item.id)
            report.add("error")
            return
        if outcome == "account_problem":
            stopped.add(item.channel)
            outcome = "failed"
        report.add(outcome)

    if workers > 1 and len(claimed) > 1:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="crm-dispatch") as pool:
            list(pool.map(run, claimed))
    else:
        for item in claimed:
            run(item)
    report.errors = report["error"]
    claims.release(session_factory, token=token, ids=unattempted)
    return report


def _dispatch_one(session_factory: sessionmaker[Session], item: claims.Claimed, *, token: str,
                  channel: Channel, settings: Settings, base_url: str, now: dt.datetime,
                  templates: TemplateCache) -> str:
    outcome, outgoing, attempts = _start(session_factory, item, token=token, channel=channel,
                                         settings=settings, base_url=base_url, now=now, templates=templates)
    if outgoing is None:
        return outcome
    try:
        accepted = channel.send(outgoing)
    except SendError as exc:
        return _record_failure(session_factory, item, exc, attempts=attempts, now=now)
    except Exception as exc:  # unexpected, and the request may have left: never resend blindly
        error = AmbiguousError(f"unexpected error: {exc!r}")
        return _record_failure(session_factory, item, error, attempts=attempts, now=now)
    _record_sent(session_factory, item.id, accepted, now=now)
    return "sent"


def _start(session_factory: sessionmaker[Session], item: claims.Claimed, *, token: str, channel: Channel,
           settings: Settings, base_url: str, now: dt.datetime,
           templates: TemplateCache) -> tuple[str, Outgoing | None, int]:
    """Take the claimed row, apply the gates and commit ``sending``; the Outgoing to send, if any."""
    with session_factory() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            session.execute(select(func.pg_advisory_xact_lock(_PROFILE_LOCK_NAMESPACE, item.profile_id)))
        taken = session.execute(
            update(Message)
            .where(Message.id == item.id, Message.claim_token == token, Message.status == "pending")
            .values(status="sending", attempted_at=now, attempts=Message.attempts + 1,
                    provider=channel.provider, claim_token=None, claimed_until=None, updated_at=now)
            .execution_options(synchronize_session=False))
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return "lost_claim", None, 0  # another dispatcher took it after our claim expired
        message, profile = session.execute(  # a profile's deletion cascades to its messages
            select(Message, Profile).join(Profile, Profile.id == Message.profile_id)
            .where(Message.id == item.id)).one()
        hold = gates.check(session, message, profile, settings=settings, base_url=base_url, now=now,
                           templates=templates)
        if hold is not None:
            message.status, message.status_reason = hold.status, hold.reason
            message.attempts -= 1  # nothing was attempted
            if hold.status == "pending":
                message.next_attempt_at = hold.until or now
                return "deferred", None, 0
            if hold.status == "failed":
                message.failed_at = now
            return hold.status, None, 0
        return "sending", _outgoing(message, settings=settings, base_url=base_url), message.attempts


def _outgoing(message: Message, *, settings: Settings, base_url: str) -> Outgoing:
    sms = message.channel == "sms"
    return Outgoing(
        message_id=message.id, channel=message.channel, to=message.to_address or "",
        text_body=message.text_body, subject=message.subject, html_body=message.html_body,
        unsubscribe_url=unsubscribe_link(message, settings=settings, base_url=base_url),
        status_callback_url=links.status_callback_url(base_url, message.id) if sms else None,
    )


def _record_sent(session_factory: sessionmaker[Session], message_id: int, accepted: Accepted, *,
                 now: dt.datetime) -> None:
    with session_factory() as session, session.begin():
        # A delivery event may already have moved the row past "sent"; never move it back.
        session.execute(
            update(Message).where(Message.id == message_id)
            .values(status=case((Message.status.in_(("sending", "unknown")), "sent"), else_=Message.status),
                    provider_message_id=func.coalesce(Message.provider_message_id,
                                                      accepted.provider_message_id),
                    sent_at=func.coalesce(Message.sent_at, now), status_reason=None, last_error=None,
                    error_code=None, updated_at=now)
            .execution_options(synchronize_session=False))


def _record_failure(session_factory: sessionmaker[Session], item: claims.Claimed, error: SendError, *,
                    attempts: int, now: dt.datetime) -> str:
    values: dict[str, Any] = {"last_error": str(error)[:2000], "error_code": error.code, "updated_at": now}
    if isinstance(error, RetryableError) and attempts < MAX_ATTEMPTS:
        outcome = "retry"
        values.update(status="pending", status_reason=f"retrying after attempt {attempts}",
                      next_attempt_at=now + retry_delay(attempts, error.retry_after))
    elif isinstance(error, AmbiguousError):
        outcome = "unknown"
        values.update(status="unknown",
                      status_reason="no answer from the provider; waiting for delivery events")
    else:
        account_problem = isinstance(error, PermanentError) and error.account_problem
        outcome = "account_problem" if account_problem else "failed"
        reason = str(error) if isinstance(error, PermanentError) else f"gave up after {attempts} attempts"
        values.update(status="failed", status_reason=reason[:200], failed_at=now)
    with session_factory() as session, session.begin():
        # The write comes first: on SQLite that takes the write lock before anything is read.
        session.execute(update(Message).where(Message.id == item.id, Message.status == "sending")
                        .values(**values).execution_options(synchronize_session=False))
        if isinstance(error, PermanentError) and error.withdraw_consent:
            profile = session.get(Profile, item.profile_id)
            if profile is not None:
                set_consent(session, profile=profile, channel=item.channel, granted=False,
                            source="sms_keyword", detail=f"provider refused: {error}",
                            message_id=item.id, now=now)
    return outcome

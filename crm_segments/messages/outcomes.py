"""Write what the providers answered for a group of sends: one transaction, one UPDATE per kind of
outcome (usually just "sent"; see bulk.py).

- sent: ``sent`` with the provider's id, unless a delivery event already moved the row further;
- 429 / 5xx / no connection: back to ``pending`` with back-off (never sooner than Retry-After), counted
  from the moment the answer came back, until ``MAX_ATTEMPTS``;
- no answer after the request left: ``unknown``, settled by delivery events, never re-sent;
- refused for good: ``failed`` with the reason (a number that replied STOP also loses SMS consent);
- credentials refused (401/403): back to ``pending``, as the provider took nothing, and the channel is
  paused in the same transaction (channel_pauses.py);
- not attempted (the channel's credentials were refused): back to ``pending``, as it never left.

An outcome replaces ``sending``, or ``unknown`` when that is what another dispatcher made of this
dispatcher's row while the answer was on its way (its claim ran out); the claim ends with it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, and_, case, func, or_
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.channels import AmbiguousError, PermanentError, RetryableError
from crm_segments.kernel.bulk_update import update_rows
from crm_segments.models import Message, Profile
from crm_segments.profiles.consent import Actor, set_consent

from .channel_pauses import CHANNEL_NAMES, pause_channel
from .retry import MAX_ATTEMPTS, retry_delay
from .sending import Result

MESSAGES = cast(Table, Message.__table__)
UNKNOWN_REASON = "no answer from the provider; waiting for delivery events"


def record(session_factory: sessionmaker[Session], results: Sequence[Result], *,
           now: dt.datetime, token: str | None = None) -> list[str]:
    """Write the outcomes in a transaction of their own; returns them (sent, retry, unknown, failed,
    paused, not_attempted). ``token``: the claim the rows were sent under."""
    if not results:
        return []
    with session_factory() as session, session.begin():
        return write(session, results, now=now, token=token)


def write(session: Session, results: Sequence[Result], *, now: dt.datetime,
          token: str | None = None) -> list[str]:
    """``record`` in the caller's transaction."""
    if not results:
        return []
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    outcomes = []
    for result in results:
        outcome, values = _outcome(result, now=now)
        rows[outcome].append({"id": result.handover.id, **values})
        outcomes.append(outcome)
    m = MESSAGES.c
    # The outcome of a send only ever replaces "sending" (or this sender's row taken for stalled).
    in_doubt = m.status == "sending"
    if token is not None:
        in_doubt = or_(in_doubt, and_(m.status == "unknown", m.claim_token == token))
    sending = (in_doubt,)
    unclaimed = {"claim_token": None, "claimed_until": None}
    # Not IN (...): SQLite runs these as an executemany, which takes no expanding parameters.
    undecided = or_(m.status == "sending", m.status == "unknown", m.status == "unconfirmed")
    update_rows(session, MESSAGES, rows["sent"], set_=lambda row: {
        # A delivery event may have come first: never move the row back or replace its provider id.
        "status": case((undecided, "sent"), else_=m.status),
        "claim_token": case((undecided, None), else_=m.claim_token),
        "provider_message_id": func.coalesce(m.provider_message_id, row["provider_message_id"]),
        "sent_at": func.coalesce(m.sent_at, now), "status_reason": None, "last_error": None,
        "error_code": None, "updated_at": now})
    update_rows(session, MESSAGES, rows["retry"], where=sending,
                set_=lambda row: {**row, **unclaimed, "status": "pending", "updated_at": now})
    update_rows(session, MESSAGES, rows["unknown"], where=sending, set_=lambda row: {
        **row, **unclaimed, "status": "unknown", "status_reason": UNKNOWN_REASON, "updated_at": now})
    update_rows(session, MESSAGES, rows["failed"], where=sending, set_=lambda row: {
        **row, **unclaimed, "status": "failed", "failed_at": now, "updated_at": now})
    # Refused credentials: nothing was taken, so the attempt does not count.
    update_rows(session, MESSAGES, rows["paused"], where=sending, set_=lambda row: {
        **row, **unclaimed, "status": "pending", "attempts": m.attempts - 1, "updated_at": now})
    update_rows(session, MESSAGES, rows["not_attempted"], where=sending, set_=lambda row: {
        **unclaimed, "status": "pending", "attempts": m.attempts - 1, "updated_at": now})
    for result in results:
        error = result.error
        if isinstance(error, PermanentError) and error.withdraw_consent:
            _withdraw_consent(session, result, error, now=now)
        if isinstance(error, PermanentError) and error.account_problem:
            pause_channel(session, channel=result.handover.channel, provider=result.handover.provider,
                          error=str(error), error_code=error.code, message_id=result.handover.id, now=now)
    return outcomes


def _outcome(result: Result, *, now: dt.datetime) -> tuple[str, dict[str, Any]]:
    if not result.attempted:
        return "not_attempted", {}
    if result.accepted is not None:
        return "sent", {"provider_message_id": result.accepted.provider_message_id}
    error = result.error
    assert error is not None
    values: dict[str, Any] = {"last_error": str(error)[:2000], "error_code": error.code}
    if isinstance(error, PermanentError) and error.account_problem:
        values["status_reason"] = f"{CHANNEL_NAMES[result.handover.channel]} is paused: the provider " \
                                  "refused the credentials; it goes out once an admin resumes the channel"
        return "paused", values
    attempts = result.handover.attempts
    if isinstance(error, RetryableError) and attempts < MAX_ATTEMPTS:
        # Counted from the answer, not the batch: Retry-After is relative to when it was said.
        answered = result.answered_at or now
        values.update(status_reason=f"retrying after attempt {attempts}",
                      next_attempt_at=answered + retry_delay(attempts, error.retry_after))
        return "retry", values
    if isinstance(error, AmbiguousError):
        return "unknown", values
    reason = str(error) if isinstance(error, PermanentError) else f"gave up after {attempts} attempts"
    values["status_reason"] = reason[:200]
    return "failed", values


def _withdraw_consent(session: Session, result: Result, error: PermanentError, *, now: dt.datetime) -> None:
    profile = session.get(Profile, result.handover.profile_id)
    if profile is not None:
        set_consent(session, profile=profile, channel=result.handover.channel, granted=False,
                    source="sms_keyword", actor=Actor("Twilio"), detail=f"provider refused: {error}",
                    message_id=result.handover.id, now=now)

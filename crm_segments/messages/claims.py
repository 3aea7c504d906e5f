"""Which due messages a dispatcher takes, and what happens to messages a stopped sender left behind.

A claim marks pending rows with a token and a short lease (CRM_SEGMENTS_CLAIM_LEASE, 30 s) and is
committed before anything is sent; two dispatchers never claim the same row (PostgreSQL: one ``UPDATE``
of the rows a ``SELECT ... FOR UPDATE SKIP LOCKED`` returned; SQLite: one atomic UPDATE, as SQLite runs
one writer at a time). The dispatcher renews the lease of the rows it still holds every third of it
(``renew``), so a claim runs out only when its dispatcher has stopped: a pending row is then claimable
again (nothing was sent, so nothing is lost), within one lease of the crash. A registered sender's
tokens begin with its id ("{id}-..."): when it dies, the others free its claims at once instead
(``free_claims_of``, called by senders.take_over_dead).

A row is marked ``sending`` just before its call and keeps its claim until the outcome is written. A
``sending`` row whose claim ran out is different: the provider may have taken it. It is marked
``unknown`` and settled by delivery events (whose custom args / callback URL carry the message id),
never re-sent blindly; one still without an event after CRM_SEGMENTS_UNCONFIRMED_AFTER becomes
``unconfirmed``, for a person to send again or close from the message log. Only the local outbox, which
cannot duplicate, goes back to pending.

Messages of a paused channel (channel_pauses.py) are not claimed at all.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.models import Message

from .channel_pauses import paused_channel_names

STALLED_REASON = "the sender stopped before recording the outcome; waiting for delivery events"
UNCONFIRMED_REASON = "no delivery event confirmed it; send it again or close it"


@dataclass(frozen=True)
class TakenOver:
    senders: list[int] = field(default_factory=list)  # the dead senders whose claims were freed
    freed: int = 0      # pending messages they had claimed, claimable again
    unknown: int = 0    # messages they were handing over (sending), now unknown
    requeued: int = 0   # local outbox messages they were writing, pending again


@dataclass(frozen=True)
class Claimed:
    id: int
    profile_id: int
    channel: str


def token_prefix(sender: int) -> str:
    return f"{sender}-"


def new_token(sender: int | None = None) -> str:
    """A claim's token: random, and beginning with ``sender``'s id when a registered sender claims."""
    random = uuid.uuid4().hex
    return random if sender is None else (token_prefix(sender) + random)[:32]


def claim_due(session_factory: sessionmaker[Session], *, now: dt.datetime, limit: int,
              lease: dt.timedelta, sender: int | None = None) -> tuple[str, list[Claimed]]:
    """Claim up to ``limit`` due messages in one statement; returns the token and the rows, oldest first."""
    token = new_token(sender)
    with session_factory() as session, session.begin():
        due = (select(Message.id)
               .where(Message.status == "pending", Message.next_attempt_at <= now,
                      or_(Message.claimed_until.is_(None), Message.claimed_until <= now),
                      # A paused channel's messages stay queued until an admin resumes it.
                      Message.channel.not_in(paused_channel_names()))
               .order_by(Message.next_attempt_at, Message.id).limit(limit))
        claim = update(Message).values(claim_token=token, claimed_until=now + lease)
        if session.get_bind().dialect.name == "postgresql":
            # A materialized CTE runs the locking SELECT exactly once, however the UPDATE is planned.
            locked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
            claim = claim.where(Message.id == locked.c.id)
        else:
            claim = claim.where(Message.id.in_(due.scalar_subquery()))
        claimed = sorted(session.execute(
            claim.returning(Message.next_attempt_at, Message.id, Message.profile_id, Message.channel)
            .execution_options(synchronize_session=False)))  # RETURNING keeps no order
    return token, [Claimed(row.id, row.profile_id, row.channel) for row in claimed]


def release(session_factory: sessionmaker[Session], *, token: str, ids: list[int]) -> None:
    """Give back claimed rows that were not attempted (e.g. the channel's credentials are wrong)."""
    if not ids:
        return
    with session_factory() as session, session.begin():
        session.execute(update(Message).where(Message.id.in_(ids), Message.claim_token == token,
                                              Message.status == "pending")
                        .values(claim_token=None, claimed_until=None)
                        .execution_options(synchronize_session=False))


def renew(session_factory: sessionmaker[Session], *, token: str, ids: Sequence[int],
          until: dt.datetime) -> int:
    """Extend this dispatcher's claims on ``ids`` (those still pending or sending) to ``until``."""
    if not ids:
        return 0
    with session_factory() as session, session.begin():
        result = session.execute(update(Message).where(Message.id.in_(ids), Message.claim_token == token,
                                                       Message.status.in_(("pending", "sending")))
                                 .values(claimed_until=until).execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def free_claims_of(session: Session, prefixes: Sequence[str], *, now: dt.datetime) -> TakenOver:
    """In the caller's transaction: the claims whose tokens begin with one of ``prefixes`` (dead
    senders') end. Their pending messages are claimable again; their ``sending`` ones become unknown
    (keeping the token: a late answer still counts), or pending for the local outbox, as in
    ``recover_stalled``."""
    if not prefixes:
        return TakenOver()
    theirs = or_(*(Message.claim_token.startswith(prefix, autoescape=True) for prefix in prefixes))
    freed = session.execute(update(Message).where(theirs, Message.status == "pending")
                            .values(claim_token=None, claimed_until=None)
                            .execution_options(synchronize_session=False))
    requeued, unknown = _settle_sending(session, (theirs, Message.status == "sending"), now=now)
    return TakenOver(freed=int(freed.rowcount), unknown=unknown,  # type: ignore[attr-defined]
                     requeued=requeued)


def _settle_sending(session: Session, stalled: tuple[ColumnElement[bool], ...], *,
                    now: dt.datetime) -> tuple[int, int]:
    """``sending`` rows whose sender is gone: local outbox ones go back to pending, the others become
    unknown (keeping the claim's token, so a late answer still counts). Returns (requeued, unknown)."""
    local = session.execute(update(Message).where(*stalled, Message.provider == "local")
                            .values(status="pending", next_attempt_at=now, updated_at=now,
                                    claim_token=None, claimed_until=None)
                            .execution_options(synchronize_session=False))
    remote = session.execute(update(Message).where(*stalled, Message.provider != "local")
                             .values(status="unknown", status_reason=STALLED_REASON, claimed_until=None,
                                     updated_at=now)
                             .execution_options(synchronize_session=False))
    return int(local.rowcount), int(remote.rowcount)  # type: ignore[attr-defined]


def recover_stalled(session_factory: sessionmaker[Session], *, now: dt.datetime,
                    lease: dt.timedelta, unconfirmed_after: dt.timedelta | None = None) -> int:
    """Rows whose sender stopped in ``sending``: local outbox ones go back to pending, the others
    become unknown (keeping the claim's token, so a late answer to that sender still counts). With
    ``unconfirmed_after``, unknown rows without an event for that long become unconfirmed.

    ``lease``: how long a ``sending`` row without a claim (marked before claims were kept on sending
    rows) may stay so."""
    stalled = (Message.status == "sending",
               or_(Message.claimed_until < now,
                   and_(Message.claimed_until.is_(None), Message.attempted_at < now - lease)))
    with session_factory() as session, session.begin():
        requeued, unknown = _settle_sending(session, stalled, now=now)
        if unconfirmed_after is not None:
            # An event about an unknown message settles it (delivery.py): still unknown, none came.
            session.execute(update(Message).where(Message.status == "unknown",
                                                  Message.updated_at < now - unconfirmed_after)
                            .values(status="unconfirmed", status_reason=UNCONFIRMED_REASON, updated_at=now)
                            .execution_options(synchronize_session=False))
    return requeued + unknown

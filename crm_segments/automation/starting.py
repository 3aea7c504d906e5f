"""Start a batch of claimed messages in one transaction: take the claims, apply the gates, render, and
commit ``sending`` for those that may go, before any of them is handed to a provider. The messages are
rendered just before, in a read transaction of their own (``render_ahead``), so no lock is held while a
template renders.

The transaction's first statements lock what the checks depend on: on PostgreSQL an advisory lock per
profile (taken in id order, so two dispatchers cannot deadlock), so two dispatchers cannot both pass
one profile's frequency cap; then one UPDATE of the claimed rows that are still pending and ours, which
locks them (and on SQLite takes the single write lock). Profiles, owners, records and recent sends
are loaded once for the batch; every row's outcome is written by the flush at the end (a few
executemany UPDATEs, grouped by the columns they change).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import Integer

from crm_segments.config import Settings
from crm_segments.db import READ_ONLY
from crm_segments.models import Message, Profile

from . import gates, links
from .caps import FrequencyCaps
from .channels import Channel, Outgoing
from .claims import Claimed
from .compose import Rendered, render_message, unsubscribe_link
from .prefetch import prefetch
from .rendering import TemplateProblem
from .template_store import TemplateCache

_PROFILE_LOCK_NAMESPACE = 0x43524D  # "CRM": the first key of pg_advisory_xact_lock(int, int)
# The ORDER BY runs in the fenced subquery (OFFSET 0), so the locks are taken in id order.
_LOCK_PROFILES = text(
    "SELECT count(pg_advisory_xact_lock(CAST(:namespace AS integer), p)) "
    "FROM (SELECT DISTINCT unnest(:ids) AS p ORDER BY p OFFSET 0) AS profiles"
).bindparams(bindparam("ids", type_=ARRAY(Integer)))


@dataclass(frozen=True)
class Handover:
    """A message committed as ``sending``: what its channel is given."""

    id: int
    profile_id: int
    channel: str
    attempts: int
    outgoing: Outgoing
    provider: str


@dataclass
class Started:
    handovers: list[Handover] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)  # of the rows held back or lost


def start(session_factory: sessionmaker[Session], items: Sequence[Claimed], *, token: str,
          channels: dict[str, Channel], settings: Settings, base_url: str, now: dt.datetime,
          templates: TemplateCache) -> Started:
    started = Started()
    rendered = render_ahead(session_factory, items, token=token, settings=settings, base_url=base_url,
                            templates=templates)
    with session_factory() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            session.execute(_LOCK_PROFILES, {"namespace": _PROFILE_LOCK_NAMESPACE,
                                             "ids": sorted({item.profile_id for item in items})})
        held = set(session.scalars(
            update(Message)
            .where(Message.id.in_([item.id for item in items]), Message.claim_token == token,
                   Message.status == "pending")
            .values(claim_token=Message.claim_token).returning(Message.id)
            .execution_options(synchronize_session=False)))
        # Another dispatcher took the row after our claim expired, or the enrollment was cancelled.
        started.outcomes += ["lost_claim"] * (len(items) - len(held))
        rows = session.execute(  # a profile's deletion cascades to its messages
            select(Message, Profile).join(Profile, Profile.id == Message.profile_id)
            .where(Message.id.in_(held)).order_by(Message.next_attempt_at, Message.id)).all()
        loaded = prefetch(session, rows)  # noqa: F841 - keeps the rows in the identity map
        caps = FrequencyCaps(session, [message for message, _ in rows], settings=settings, now=now)
        with session.no_autoflush:  # one flush at the end writes every row
            for message, profile in rows:
                outcome = _take(session, message, profile, channel=channels[message.channel],
                                settings=settings, base_url=base_url, now=now, caps=caps, templates=templates,
                                rendered=rendered)
                if outcome != "sending":
                    started.outcomes.append(outcome)
                    continue
                started.handovers.append(Handover(message.id, message.profile_id, message.channel,
                                                  message.attempts, _outgoing(message, settings, base_url),
                                                  channels[message.channel].provider))
    return started


def render_ahead(session_factory: sessionmaker[Session], items: Sequence[Claimed], *, token: str,
                 settings: Settings, base_url: str, templates: TemplateCache) -> dict[int, Rendered]:
    """The parts of the claimed messages not rendered yet, or why one cannot be, by message id.

    Rendered in a read transaction before the one that starts them: a render may take up to the time
    limit (CRM_SEGMENTS_TEMPLATE_TIME_LIMIT), and that transaction holds SQLite's only write lock and
    PostgreSQL's locks on the part's profiles. A row that changes in between is rendered again there."""
    with session_factory(execution_options=READ_ONLY) as session:
        rows = session.execute(
            select(Message, Profile).join(Profile, Profile.id == Message.profile_id)
            .where(Message.id.in_([item.id for item in items]), Message.claim_token == token,
                   Message.status == "pending", Message.rendered_at.is_(None))).all()
        loaded = prefetch(session, rows)  # noqa: F841 - keeps the rows in the identity map
        rendered: dict[int, Rendered] = {}
        for message, profile in rows:
            try:
                rendered[message.id] = render_message(session, message, profile, settings=settings,
                                                      base_url=base_url, templates=templates)
            except TemplateProblem as exc:
                rendered[message.id] = exc
    return rendered


def _take(session: Session, message: Message, profile: Profile, *, channel: Channel, settings: Settings,
          base_url: str, now: dt.datetime, caps: FrequencyCaps, templates: TemplateCache,
          rendered: dict[int, Rendered]) -> str:
    """Apply the gates to a held row and set its new state: "sending", or why it is held back."""
    message.claim_token = message.claimed_until = None
    message.attempted_at, message.provider, message.updated_at = now, channel.provider, now
    hold = gates.check(session, message, profile, settings=settings, base_url=base_url, now=now,
                       caps=caps, templates=templates, rendered=rendered)
    if hold is None:
        message.status, message.attempts = "sending", message.attempts + 1
        return "sending"
    message.status, message.status_reason = hold.status, hold.reason
    if hold.status == "pending":
        message.next_attempt_at = hold.until or now
        return "deferred"
    if hold.status == "failed":
        message.failed_at = now
    return hold.status


def _outgoing(message: Message, settings: Settings, base_url: str) -> Outgoing:
    sms = message.channel == "sms"
    return Outgoing(
        message_id=message.id, channel=message.channel, to=message.to_address or "",
        text_body=message.text_body, subject=message.subject, html_body=message.html_body,
        unsubscribe_url=unsubscribe_link(message, settings=settings, base_url=base_url),
        status_callback_url=links.status_callback_url(base_url, message.id) if sms else None,
    )

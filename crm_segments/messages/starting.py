"""Get claimed messages ready, a part at a time, and mark them ``sending`` a few at a time, each group
just before its provider calls.

``prepare``: a read transaction per part loads the part's rows (with their profiles, and what they
render from), renders them (in one request to a renderer), applies the gates and works out what each
message will say; no lock is held while a template renders. A message held back gets its state
(suppressed, skipped, failed, or pending until quiet hours end or a cap frees up), written after by one
UPDATE per set of columns the checks changed, not one per row. One that may go stays ``pending`` and
claimed, and what it will say travels with it to ``mark_sending``, which writes it with the mark: a
message is written once on its way out, not twice.
Profiles, owners, records and recent sends are loaded once for the part.

``mark_sending``: one short transaction per group (no larger than the free send threads) marks it
``sending``, so after a hard kill only the calls that were under way are in doubt. It first takes an
advisory lock per profile on PostgreSQL (in id order, so two dispatchers cannot deadlock; on SQLite the
transaction holds the only write lock) and counts the profiles' recent sends again, so two dispatchers
cannot both pass one profile's frequency cap: a message over it waits, as at ``prepare``.

No row is locked ahead of its write: each write is an UPDATE of the rows still pending and claimed by
this dispatcher, returning those it changed (a row cancelled or taken over since it was read is left
alone and counted as a lost claim). A row lock before the write cost the database a second write to
every row, and the worker a second load of the part. Rows are found by their ids alone and checked
once read: a queue's statistics lag behind a burst of new messages, and a filter on ``status`` lets the
planner scan every pending message's index entry for each part instead of a few primary-key lookups.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.channels import Channel, Outgoing
from crm_segments.config import Settings
from crm_segments.db import READ_ONLY
from crm_segments.delivery import links
from crm_segments.kernel.bulk_update import id_in, update_rows_returning
from crm_segments.kernel.id_arrays import Int4Array, int4_array_driver
from crm_segments.models import Message, Profile
from crm_segments.templates.compose import render_messages, unsubscribe_link
from crm_segments.templates.rendering import TemplateProblem
from crm_segments.templates.template_store import TemplateCache

from . import gates
from .caps import FrequencyCaps, is_capped
from .claims import Claimed
from .prefetch import prefetch

_PROFILE_LOCK_NAMESPACE = 0x43524D  # "CRM": the first key of pg_advisory_xact_lock(int, int)
# The ORDER BY runs in the fenced subquery (OFFSET 0), so the locks are taken in id order.
_LOCK_PROFILES = ("SELECT count(pg_advisory_xact_lock(CAST(%(namespace)s AS integer), p)) "
                  "FROM (SELECT DISTINCT unnest(%(ids)s) AS p ORDER BY p OFFSET 0) AS profiles")


MESSAGES = cast(Table, Message.__table__)
CAP_REACHED = "frequency cap reached"


@dataclass(frozen=True)
class Handover:
    """A message that passed its checks: what its channel is given once it is marked ``sending``."""

    id: int
    profile_id: int
    channel: str
    category: str
    attempts: int  # counting the attempt it is about to make
    outgoing: Outgoing
    provider: str
    changes: dict[str, Any] = field(default_factory=dict, compare=False)  # written with the mark


@dataclass
class Started:
    handovers: list[Handover] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)  # of the rows held back or lost


def prepare(session_factory: sessionmaker[Session], items: Sequence[Claimed], *, token: str,
            channels: dict[str, Channel], settings: Settings, base_url: str, now: dt.datetime,
            templates: TemplateCache) -> Started:
    """Check a part of claimed messages; returns those that may go (still ``pending``)."""
    started = Started()
    held_back: dict[int, str] = {}  # outcome by message id
    held_back_rows: list[dict[str, Any]] = []
    with session_factory(execution_options=READ_ONLY) as session, session.no_autoflush:
        rows = _ours(session, items, token=token)
        # Another dispatcher took the row after our claim expired, or the enrollment was cancelled.
        started.outcomes += ["lost_claim"] * (len(items) - len(rows))
        loaded = prefetch(session, rows)  # noqa: F841 - keeps the rows in the identity map
        caps = FrequencyCaps(session, [message for message, _ in rows], settings=settings, now=now)
        # Every message the gates will render, in one request to a renderer rather than one each.
        to_render = [(message, profile) for message, profile in rows
                     if message.rendered_at is None and not gates.expired(message, now)]
        rendered = render_messages(session, to_render, settings=settings, base_url=base_url,
                                   templates=templates)
        for message, profile in rows:
            outcome = _take(session, message, profile, channel=channels[message.channel], settings=settings,
                            base_url=base_url, now=now, caps=caps, templates=templates,
                            rendered=rendered.get(message.id))
            if outcome != "ready":
                held_back[message.id] = outcome
                held_back_rows.append({"id": message.id, **_changes(message)})
                continue
            started.handovers.append(Handover(message.id, message.profile_id, message.channel,
                                              message.category, message.attempts + 1,
                                              _outgoing(message, settings, base_url),
                                              channels[message.channel].provider, _changes(message)))
        # Nothing is flushed: the session closes unwritten, the rows held back are written below and
        # the ready ones by their mark.
    if held_back_rows:
        with session_factory() as session, session.begin():
            written: set[int] = set()
            for changed in _by_columns(held_back_rows):
                written |= update_rows_returning(session, MESSAGES, changed, where=_still_ours(token),
                                                 set_=lambda row: dict(row))
        started.outcomes += [outcome if id_ in written else "lost_claim"
                             for id_, outcome in held_back.items()]
    return started


def _ours(session: Session, items: Sequence[Claimed], *, token: str) -> list[tuple[Message, Profile]]:
    """The part's rows still pending and claimed by ``token``, with their profiles, oldest first. Not
    locked: every write that follows is made only if the row is still pending and ours
    (``_still_ours``), and a profile's deletion cascades to its messages."""
    query = (select(Message, Profile).join(Profile, Profile.id == Message.profile_id)
             .where(id_in(session, Message.id, [item.id for item in items]))
             .order_by(Message.next_attempt_at, Message.id))
    return [(message, profile) for message, profile in session.execute(query)
            if message.claim_token == token and message.status == "pending"]


def _still_ours(token: str) -> list[ColumnElement[bool]]:
    return [MESSAGES.c.claim_token == token, MESSAGES.c.status == "pending"]


def _changes(message: Message) -> dict[str, Any]:
    """The columns set on ``message`` since it was loaded, with their values: state.committed_state, not
    state.attrs less state.unmodified (which builds every attribute's state for each row, a tenth of
    prepare's CPU)."""
    return {key: getattr(message, key) for key in sorted(inspect(message).committed_state)}


def _by_columns(rows: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``rows`` grouped by the columns they set, so each group is one UPDATE."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[tuple(row)].append(row)
    return list(groups.values())


def mark_sending(session: Session, handovers: Sequence[Handover], *, token: str, settings: Settings,
                 now: dt.datetime, lease: dt.timedelta) -> Started:
    """Mark a group ``sending``, in the caller's transaction, just before its calls; returns the
    handovers to send now.

    The claim stays on a ``sending`` row and is renewed with the others: a row whose claim runs out
    has lost its sender (claims.recover_stalled)."""
    marked = Started()
    if not handovers:
        return marked
    # Only a capped message needs its profile's recent sends counted again, under the profile's lock.
    capped = {h.profile_id for h in handovers if is_capped(h, settings)}
    with _profiles_locked(session, capped):
        caps = FrequencyCaps(session, handovers, settings=settings, now=now)
    going: list[Handover] = []
    waiting: list[dict[str, Any]] = []
    for handover in handovers:
        if free := caps.free_at(handover):
            waiting.append({"id": handover.id, "next_attempt_at": free})
        else:
            caps.count(handover)
            going.append(handover)
    deferred = update_rows_returning(session, MESSAGES, waiting, where=_still_ours(token), set_=lambda row: {
        "next_attempt_at": row["next_attempt_at"], "status_reason": CAP_REACHED, "claim_token": None,
        "claimed_until": None, "updated_at": now})
    sending = {"status": "sending", "attempts": MESSAGES.c.attempts + 1, "attempted_at": now,
               "claimed_until": now + lease, "updated_at": now}
    marked_ids: set[int] = set()
    for changed in _by_columns({"id": h.id, **{k: v for k, v in h.changes.items() if k not in sending}}
                               for h in going):
        marked_ids |= update_rows_returning(session, MESSAGES, changed, where=_still_ours(token),
                                            set_=lambda row: {**row, **sending})
    marked.handovers = [h for h in going if h.id in marked_ids]
    marked.outcomes = (["deferred"] * len(deferred)
                       + ["lost_claim"] * (len(handovers) - len(deferred) - len(marked_ids)))
    return marked


@contextmanager
def _profiles_locked(session: Session, profile_ids: set[int]) -> Iterator[None]:
    """The profiles' locks (PostgreSQL) taken before the block's statements. The locks and the block's
    statements go to the server together, in one round trip (a pipeline); each of those is a statement
    of its own, so it still reads what was committed once the locks were held."""
    if not profile_ids or session.get_bind().dialect.name != "postgresql":
        yield
        return
    driver = int4_array_driver(session)
    with driver.pipeline():
        driver.execute(_LOCK_PROFILES, {"namespace": _PROFILE_LOCK_NAMESPACE, "ids": Int4Array(profile_ids)},
                       prepare=True)
        yield


def _take(session: Session, message: Message, profile: Profile, *, channel: Channel, settings: Settings,
          base_url: str, now: dt.datetime, caps: FrequencyCaps, templates: TemplateCache,
          rendered: dict[str, str] | TemplateProblem | None = None) -> str:
    """Apply the gates to a held row: "ready" (it stays pending and claimed, with what it will say), or
    why it is held back (its new state)."""
    message.provider, message.updated_at = channel.provider, now
    hold = gates.check(session, message, profile, settings=settings, base_url=base_url, now=now,
                       caps=caps, templates=templates, rendered=rendered)
    if hold is None:
        return "ready"
    message.claim_token = message.claimed_until = None
    message.attempted_at = now
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

"""Running senders and their heartbeats; a dead sender's claims are taken over in seconds.

A sender (``crm-segments worker``) registers a row in crm_senders when it starts; its id begins every
claim token it takes (claims.new_token), so the messages it holds can be found. It refreshes its
heartbeat every ``HEARTBEAT_EVERY`` seconds. On PostgreSQL the registering connection also takes a
session-level advisory lock keyed on the id and stays open for the process's life: when the process
dies, its connection closes and the server frees the lock at once. Each heartbeat, and every
dispatcher before it claims (dispatch.dispatch_due), looks for dead senders: a free lock
(``pg_try_advisory_xact_lock`` succeeds) or a heartbeat silent for ``SILENT_FOR`` (SQLite, or a machine
cut off whose connection the server has not dropped yet). It frees their pending claims and marks their
``sending`` messages ``unknown`` in one transaction (claims.free_claims_of), so a kill costs a
heartbeat's interval, not the claim's lease.

Taking a live sender for dead (its connection dropped, its heartbeat late) loses time, never a message:
it can no longer mark the freed rows ``sending`` (their token changed), its answers still settle the
rows made ``unknown``, and it registers again under a new id at its next heartbeat.

Behind PgBouncer in transaction pooling, session-level locks do not follow the process: point workers
at PostgreSQL itself (or a session-pooled port).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from typing import cast as type_cast

from sqlalchemy import Integer, Table, cast, delete, func, insert, literal, or_, select, text, true, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.db import READ_ONLY, make_session_factory, utcnow
from crm_segments.models import Sender

from . import claims

log = logging.getLogger(__name__)

SENDERS = type_cast(Table, Sender.__table__)
HEARTBEAT_EVERY = 2.0                    # seconds between heartbeats
SILENT_FOR = dt.timedelta(seconds=10)    # a heartbeat older than this: the sender is dead
LOCK_NAMESPACE = 0x534E44                # "SND": the first key of pg_advisory_lock(int, int)
_LOCK = text("SELECT pg_advisory_lock(CAST(:namespace AS integer), CAST(:id AS integer))")
_UNLOCK = text("SELECT pg_advisory_unlock(CAST(:namespace AS integer), CAST(:id AS integer))")


class SenderHeartbeat:
    """This process as a registered sender, while it runs: ``with SenderHeartbeat(engine) as beat:``,
    then ``beat.id`` for the claims (it changes if the sender was taken for dead and registered again)."""

    def __init__(self, engine: Engine, *, every: float = HEARTBEAT_EVERY) -> None:
        self.engine, self.every = engine, every
        self.id: int | None = None
        self._postgres = engine.dialect.name == "postgresql"
        self._connection: Connection | None = None  # PostgreSQL: holds the advisory lock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> SenderHeartbeat:
        self._register()
        self._thread = threading.Thread(target=self._run, name="crm-sender-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self._unregister()
        except Exception:  # noqa: BLE001 - the row is reaped as dead anyway; the process is ending
            log.warning("sender %s could not unregister", self.id, exc_info=True)
        self._close()

    def _register(self) -> None:
        now = utcnow()
        row = {"host": socket.gethostname()[:255], "pid": os.getpid(), "started_at": now, "heartbeat_at": now}
        if not self._postgres:
            with self.engine.begin() as connection:
                self.id = int(connection.execute(insert(SENDERS).values(row).returning(SENDERS.c.id))
                              .scalar_one())
            return
        connection = self.engine.connect()
        try:
            # One transaction: no one sees the row before its lock is held.
            with connection.begin():
                sender = int(connection.execute(insert(SENDERS).values(row).returning(SENDERS.c.id))
                             .scalar_one())
                connection.execute(_LOCK, {"namespace": LOCK_NAMESPACE, "id": sender})
        except BaseException:
            connection.close()
            raise
        self._connection, self.id = connection, sender

    def _beat(self) -> None:
        if self._postgres and self._connection is None:
            self._register()
            return
        statement = update(SENDERS).where(SENDERS.c.id == self.id).values(heartbeat_at=utcnow())
        if self._connection is not None:
            with self._connection.begin():
                beating = self._connection.execute(statement).rowcount
        else:
            with self.engine.begin() as connection:
                beating = connection.execute(statement).rowcount
        if not beating:
            log.warning("sender %s was taken for dead and its claims taken over; registering again", self.id)
            self._close()
            self._register()

    def _run(self) -> None:
        factory = make_session_factory(self.engine)
        while not self._stop.wait(self.every):
            try:
                self._beat()
            except Exception:  # noqa: BLE001 - the database went away: register again when it is back
                log.warning("sender %s: heartbeat failed", self.id, exc_info=True)
                self._close()
                continue
            try:
                take_over_dead(factory, me=self.id)
            except Exception:  # noqa: BLE001 - looked at again at the next heartbeat
                log.warning("looking for stopped senders failed", exc_info=True)

    def _unregister(self) -> None:
        if self.id is None:
            return
        if self._connection is not None:
            with self._connection.begin():
                self._connection.execute(delete(SENDERS).where(SENDERS.c.id == self.id))
                self._connection.execute(_UNLOCK, {"namespace": LOCK_NAMESPACE, "id": self.id})
        else:
            with self.engine.begin() as connection:
                connection.execute(delete(SENDERS).where(SENDERS.c.id == self.id))

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.invalidate()  # closed, not pooled: its session's lock goes with it
            except Exception:  # noqa: BLE001 - already gone
                log.debug("closing the heartbeat connection failed", exc_info=True)


def take_over_dead(session_factory: sessionmaker[Session], *, me: int | None = None,
                   now: dt.datetime | None = None) -> claims.TakenOver:
    """Free the claims of every dead sender but ``me`` and forget it; returns what was taken over."""
    now = now or utcnow()
    others = SENDERS.c.id != me if me is not None else true()
    silent = SENDERS.c.heartbeat_at < now - SILENT_FOR
    with session_factory() as probe:
        postgres = probe.get_bind().dialect.name == "postgresql"
    if not postgres:
        # Looked at first without the write lock, which SQLite's writers take one at a time.
        with session_factory(execution_options=READ_ONLY) as session:
            if session.scalar(select(SENDERS.c.id).where(others, silent).limit(1)) is None:
                return claims.TakenOver()
    with session_factory() as session, session.begin():
        dead_now = silent
        if postgres:
            # Free only once its holder's session has ended; then held for this transaction, so two
            # dispatchers never take over the same sender.
            dead_now = or_(silent, func.pg_try_advisory_xact_lock(
                cast(literal(LOCK_NAMESPACE), Integer), SENDERS.c.id))
        query = select(SENDERS.c.id).where(others, dead_now)
        dead = list(session.scalars(query.with_for_update(skip_locked=True)))
        if not dead:
            return claims.TakenOver()
        taken = claims.free_claims_of(session, [claims.token_prefix(sender) for sender in dead], now=now)
        session.execute(delete(SENDERS).where(SENDERS.c.id.in_(dead)))
    log.warning("senders %s stopped: %s claimed messages freed, %s in doubt marked unknown", dead,
                taken.freed, taken.unknown)
    return claims.TakenOver(senders=dead, freed=taken.freed, unknown=taken.unknown, requeued=taken.requeued)

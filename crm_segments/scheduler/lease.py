"""A leader lease in the database: only the holder runs scheduled jobs.

Set-based and portable: one conditional UPDATE takes the lease when it is free, expired or already
ours, so two schedulers started at once can never both hold it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Table, insert, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from crm_segments.models import SchedulerLease

LEASE: Table = SchedulerLease.__table__  # type: ignore[assignment]  # a mapped class's table is a Table


def try_acquire(engine: Engine, *, name: str, holder: str, ttl: dt.timedelta, now: dt.datetime) -> bool:
    """Take or renew the lease; True when ``holder`` holds it until ``now + ttl``."""
    expires = now + ttl
    with engine.begin() as conn:
        taken = conn.execute(
            update(LEASE)
            .where(LEASE.c.name == name)
            .where(or_(LEASE.c.holder == holder, LEASE.c.expires_at < now))
            .values(holder=holder, expires_at=expires)
        ).rowcount
    if taken:
        return True
    try:
        with engine.begin() as conn:
            conn.execute(insert(LEASE).values(name=name, holder=holder, expires_at=expires))
    except IntegrityError:
        return False  # someone else holds a live lease
    return True


def release(engine: Engine, *, name: str, holder: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(LEASE)
            .where(LEASE.c.name == name, LEASE.c.holder == holder)
            .values(expires_at=dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
        )

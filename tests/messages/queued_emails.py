"""A private PostgreSQL database with welcome emails queued for reachable profiles: the starting point of
the crash tests, in-process and with worker processes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

import crm_segments.models  # noqa: F401  (fills Base.metadata)
from crm_segments.db import Base, make_engine, make_session_factory, utcnow
from crm_segments.models import Message, Profile
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail


@contextmanager
def private_postgres_factory() -> Iterator[sessionmaker[Session]]:
    if reason := postgres_reachable():
        skip_or_fail(reason)
    with private_postgres_database() as url:
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        try:
            yield make_session_factory(engine)
        finally:
            engine.dispose()


def queue_welcome_emails(factory: sessionmaker[Session], count: int, *, key: str) -> list[int]:
    """``count`` profiles with email consent, each with one marketing email due now (dedupe keys
    ``key:n``)."""
    now = utcnow()
    with factory() as session, session.begin():
        profiles = session.scalars(insert(Profile).returning(Profile.id), [
            {"external_id": f"K-{n}", "first_name": f"K{n}", "email": f"k{n}@example.com",
             "email_consent": True, "time_zone": "UTC", "created_at": now, "updated_at": now}
            for n in range(count)]).all()
        return list(session.scalars(insert(Message).returning(Message.id), [
            {"dedupe_key": f"{key}:{n}", "profile_id": profile_id, "channel": "email",
             "category": "marketing", "template_key": "evergreen/welcome", "context": {}, "status": "pending",
             "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now}
            for n, profile_id in enumerate(profiles)]).all())

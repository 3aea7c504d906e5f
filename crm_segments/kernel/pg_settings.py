"""PostgreSQL planner settings for a stretch of the caller's transaction, then back as they were."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session


@contextmanager
def local_settings(session: Session, **settings: str) -> Iterator[None]:
    """``set_config(name, value, true)`` for each setting; on other databases nothing.

    On an error the caller's savepoint or transaction is rolled back, and the settings with it.
    """
    if not settings or session.get_bind().dialect.name != "postgresql":
        yield
        return
    current = text("SELECT current_setting(:name)")
    previous = {name: session.scalar(current, {"name": name}) for name in settings}
    for name, value in settings.items():
        session.execute(text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})
    yield
    for name, value in previous.items():
        session.execute(text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})

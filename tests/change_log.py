"""For tests that commit outside the test's transaction: the change log and the refresh marks put back
as they were, so a later test that counts every table (test_integrity's orphan rows) finds them empty."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine

from crm_segments.models import ProfileChange, RefreshMark


@contextmanager
def change_log_restored(engine: Engine) -> Iterator[None]:
    """Remove, on the way out, the change log rows and refresh marks written meanwhile (committed
    writes log their profiles; a refresh or a pruning records how far it read)."""
    with engine.connect() as connection:
        marks = set(connection.scalars(select(RefreshMark.name)))
        logged_before = connection.scalar(select(func.max(ProfileChange.id))) or 0
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(delete(ProfileChange).where(ProfileChange.id > logged_before))
            connection.execute(delete(RefreshMark).where(RefreshMark.name.not_in(marks)))

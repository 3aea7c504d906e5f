"""Near-real-time enrollment: right after the changed profiles' segments are re-evaluated (same
transaction), the entries that produced are enrolled, so a quote saved through the API starts its
follow-up within seconds instead of at the next scheduler tick."""

from __future__ import annotations

from sqlalchemy.orm import Session

from crm_segments.db import utcnow
from crm_segments.kernel.changes import ChangedProfiles

from .triggers import enroll_from_events


def on_profiles_changed(session: Session, profile_ids: frozenset[int]) -> None:
    enroll_from_events(session, now=utcnow(), profile_ids=profile_ids)


def on_bulk_change(session: Session, changed: ChangedProfiles) -> None:
    """The batch listener: one enrollment statement per workflow for all of a bulk write's profiles."""
    enroll_from_events(session, now=utcnow(), profile_ids=changed.ids)

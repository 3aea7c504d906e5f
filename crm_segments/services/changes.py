"""The "profile changed" signal: services that write profiles or their records call
``profiles_changed`` in the same transaction, and each domain's listener (live segments, auto-tag
rules) re-evaluates just those profiles, so a change shows in segments within seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session

from crm_segments.services.whole_base import WHOLE_BASE_FROM

Listener = Callable[[Session, frozenset[int]], None]


def listeners() -> list[Listener]:
    # Imported here so loading this module has no side effects and no import cycles.
    from crm_segments.automation.workflows.realtime import on_profiles_changed as enroll_changed_profiles
    from crm_segments.segments.realtime import on_profiles_changed
    from crm_segments.tagging.realtime import on_profiles_changed as retag_changed_profiles

    # Auto-tags first: segment rules may test the tags they set. Workflows last: they enroll from
    # the segment entries and tags the others have just written.
    return [retag_changed_profiles, on_profiles_changed, enroll_changed_profiles]


def whole_base_listeners() -> list[Listener]:
    """The same three steps, for a change to more than ``WHOLE_BASE_FROM`` profiles (whole_base.py)."""
    from crm_segments.automation.workflows.realtime import on_profiles_changed as enroll_changed_profiles
    from crm_segments.services.whole_base import refresh_live_segments, retag_everyone

    return [retag_everyone, refresh_live_segments, enroll_changed_profiles]


def profiles_changed(*, session: Session, profile_ids: Iterable[int]) -> None:
    ids = frozenset(profile_ids)
    if not ids:
        return
    session.flush()
    for listener in listeners() if len(ids) < WHOLE_BASE_FROM else whole_base_listeners():
        listener(session, ids)

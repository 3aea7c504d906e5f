"""The "profiles changed" signal: services that write profiles or their records call
``profiles_changed`` in the same transaction, and each domain's listener (auto-tag rules, live
segments, workflows) re-evaluates just those profiles, so a change shows in segments within seconds.

The listeners are registered by the app's set-up (``CRMSegments.init_app``, see crm_segments/wiring.py)
rather than imported here, so this module knows no domain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

Listener = Callable[[Session, frozenset[int]], None]

# Past this many changed profiles (an import of a whole base) per-profile re-evaluation costs more
# than running each rule once over everyone: the ``whole_base`` listeners are called instead.
WHOLE_BASE_FROM = 20_000


@dataclass(frozen=True)
class ProfileListeners:
    each: tuple[Listener, ...] = ()  # called in this order with the changed profiles' ids
    whole_base: tuple[Listener, ...] = ()  # the same steps for a change to WHOLE_BASE_FROM or more


_registered = ProfileListeners()


def register(listeners: ProfileListeners) -> None:
    """Set who hears of changed profiles, for the whole process (every app sets the same ones)."""
    global _registered
    _registered = listeners


def registered() -> ProfileListeners:
    return _registered


def profiles_changed(*, session: Session, profile_ids: Iterable[int]) -> None:
    ids = frozenset(profile_ids)
    if not ids:
        return
    session.flush()
    listeners = _registered.each if len(ids) < WHOLE_BASE_FROM else _registered.whole_base
    for listener in listeners:
        listener(session, ids)

"""The "profiles changed" signal: services that write profiles or their records call
``profiles_changed`` in the same transaction, and each domain's listener (auto-tag rules, live
segments, workflows) re-evaluates just those profiles, so a change shows in segments within seconds.

A few changed profiles go to the ``each`` listeners with their ids. A bulk write (an import, a bulk
API upsert, a bulk status change) of STAGE_FROM profiles or more goes to the ``batch`` listeners
once, with its ids staged in a temporary table (staged_ids.py): each rule, segment diff and
enrollment runs once for the whole set, restricted by that table, never over the whole base.

The listeners are registered by the app's set-up (``CRMSegments.init_app``, see crm_segments/wiring.py)
rather than imported here, so this module knows no domain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from .staged_ids import staged_ids

# From this many changed profiles the ids are staged and the batch listeners called: below it, a
# statement per chunk of ids costs less than staging them.
STAGE_FROM = 1_000


@dataclass(frozen=True)
class ChangedProfiles:
    """The profiles a bulk write changed: their ids, and the same ids as a select of their table."""

    ids: frozenset[int]
    staged: Select[Any]  # SELECT profile_id FROM the temporary table: use as ``column.in_(staged)``


Listener = Callable[[Session, frozenset[int]], None]
BatchListener = Callable[[Session, ChangedProfiles], None]


@dataclass(frozen=True)
class ProfileListeners:
    each: tuple[Listener, ...] = ()  # called in this order with the changed profiles' ids
    batch: tuple[BatchListener, ...] = ()  # the same steps for STAGE_FROM changed profiles or more


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
    if len(ids) < STAGE_FROM:
        for listener in _registered.each:
            listener(session, ids)
        return
    with staged_ids(session, ids) as staged:
        changed = ChangedProfiles(ids, staged)
        for batch_listener in _registered.batch:
            batch_listener(session, changed)

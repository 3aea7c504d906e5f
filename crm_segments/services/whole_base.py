"""Re-evaluation after a change to a large share of the profiles (an import of a whole base).

Per-profile re-evaluation restricts every rule to the changed ids, a few hundred at a time: right
for a saved quote, but for 355,000 imported profiles that is hundreds of statements per rule, each
paying for the rule again. Past ``WHOLE_BASE_FROM`` changed profiles, auto-tag rules and live
segments are run once over the whole base instead, in the caller's transaction, as the scheduled
jobs would run them; workflows then enroll from the events that wrote, for the changed profiles.
A rule or segment that fails is skipped and logged; the scheduled run records its error.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.db import utcnow
from crm_segments.models import Segment

log = logging.getLogger(__name__)
WHOLE_BASE_FROM = 20_000  # changed profiles


def retag_everyone(session: Session, _profile_ids: frozenset[int]) -> None:
    from crm_segments.tagging.auto import enabled_rules, run_rule

    now = utcnow()
    for rule in enabled_rules(session):
        try:
            with session.begin_nested():
                run_rule(session=session, rule=rule, now=now)
        except Exception:  # noqa: BLE001 - one broken rule must not block the import
            log.exception("auto-tag rule %s failed after a large change", rule.id)


def refresh_live_segments(session: Session, _profile_ids: frozenset[int]) -> None:
    from crm_segments.segments.dependencies import dependency_levels, segment_refs
    from crm_segments.segments.refresh import RefreshError, refresh_segment

    now = utcnow()
    segments = list(session.scalars(select(Segment).where(Segment.kind == "live").order_by(Segment.id)))
    refs = {segment.id: segment_refs(segment) for segment in segments}
    for level in dependency_levels(segments, refs):
        for segment in level:
            try:
                refresh_segment(session, segment, now=now)
            except RefreshError as exc:
                log.warning("segment %s not refreshed after a large change: %s", segment.id, exc)

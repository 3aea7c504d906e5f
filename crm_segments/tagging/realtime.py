"""Auto-tag rules for changed profiles: the "profile changed" listener re-runs every enabled rule
for just those profiles (and their records), in the caller's transaction.

Speed: building a rule's SQL costs far more than running it for one profile, so each rule's
statements are built once per day and run with the profile id and the time as parameters
(segments.periods.BoundNow): a change is evaluated at the exact time it happened, with the cut-offs
("within the last 30 days") a full run at that time would use.
The id is compared with "=", one profile per execution: PostgreSQL then carries the constant into
the rule's grouped subqueries (jobs GROUP BY profile_id HAVING ...) and reads just that profile's
rows. A larger set is handled as sets of up to BATCH profiles instead: the rule is compiled for
those ids (``profile_ids=``), so its aggregates read only their records; a bulk write's profiles
(an import) come staged in a temporary table, and each rule runs once for all of them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Integer, bindparam, select
from sqlalchemy.orm import Session

from crm_segments.db import UTCDateTime, utcnow
from crm_segments.kernel.changes import ChangedProfiles
from crm_segments.kernel.sql import dialect_name
from crm_segments.models import AutoTagRule
from crm_segments.records.entities import entity_model
from crm_segments.segments.periods import BoundNow, today

from .auto import enabled_rules, run_rule, run_steps
from .rule_sql import RuleSpec, RuleStatements, Steps, matching_ids

log = logging.getLogger(__name__)
ONE_BY_ONE = 20  # up to this many changed profiles, each is re-evaluated with the cached statements
BATCH = 1_000  # more are re-evaluated as sets of this many (their ids are bound parameters)


@lru_cache(maxsize=256)
def profile_steps(spec: RuleSpec, day: dt.date, postgresql: bool) -> tuple[Steps, BoundNow]:
    """The steps that add and remove a rule's tag for the one profile given as ``profile_id``, and
    the time parameters they take (``BoundNow.values`` of the evaluation time, on ``day``)."""
    rule_now = BoundNow(day)
    profile_id: ColumnElement[int] = bindparam("profile_id", type_=Integer)
    if spec.entity_type == "profile":
        def scope(entity_id: Any) -> ColumnElement[bool]:
            return entity_id == profile_id  # type: ignore[no-any-return]
    else:
        model = entity_model(spec.entity_type)

        def scope(entity_id: Any) -> ColumnElement[bool]:
            return entity_id.in_(select(model.id).where(model.profile_id == profile_id))  # type: ignore[no-any-return]
    column = list(matching_ids(spec, now=rule_now).subquery("all_matches").c)[0]
    match_id = select(column.label("id")).where(scope(column)).subquery("matches").c.id
    statements = RuleStatements(spec, match_id, postgresql=postgresql,
                                now=bindparam("now", type_=UTCDateTime()), scope=scope)
    return statements.change_steps(), rule_now


def reevaluate_profiles(
    session: Session, profile_ids: Collection[int], *, now: dt.datetime | None = None,
) -> None:
    """Re-run every enabled rule for just these profiles, in the caller's transaction.

    A rule that fails is skipped (inside a savepoint, so the caller's change still commits) and
    logged; the next full run records its error on the rule. All rules run in one savepoint (each
    statement is a round trip, and savepoints are two more per rule); only when one fails are they
    run again, each in its own.
    """
    ids = sorted(set(profile_ids))
    if not ids:
        return
    now = now or utcnow()
    postgresql = dialect_name(session) == "postgresql"
    rules = enabled_rules(session)
    try:
        with session.begin_nested():
            for rule in rules:
                _reevaluate(session, rule, ids, now, postgresql)
        return
    except Exception:  # noqa: BLE001 - rolled back; each rule is tried again on its own below
        log.debug("an auto-tag rule failed for changed profiles; running the rules one by one")
    for rule in rules:
        try:
            with session.begin_nested():
                _reevaluate(session, rule, ids, now, postgresql)
        except Exception:  # noqa: BLE001 - one broken rule must not block writes to profiles
            log.exception("auto-tag rule %s failed for changed profiles", rule.id)


def _reevaluate(session: Session, rule: AutoTagRule, ids: list[int], now: dt.datetime,
                postgresql: bool) -> None:
    if len(ids) > ONE_BY_ONE:
        for start in range(0, len(ids), BATCH):
            run_rule(session=session, rule=rule, now=now, profile_ids=ids[start:start + BATCH])
        return
    steps, rule_now = profile_steps(RuleSpec.of(rule), today(now), postgresql)
    times = rule_now.values(now)
    for profile_id in ids:
        run_steps(session, steps, {"profile_id": profile_id, "now": now, **times})


def on_profiles_changed(session: Session, profile_ids: frozenset[int]) -> None:
    """The "profile changed" listener (crm_segments/kernel/changes.py)."""
    reevaluate_profiles(session, profile_ids)


def on_bulk_change(session: Session, changed: ChangedProfiles) -> None:
    """The batch listener (crm_segments/kernel/changes.py): every enabled rule runs once for a bulk
    write's profiles, restricted by their staged ids. A rule that fails is skipped (inside its
    savepoint, so the write still commits) and logged; the next full run records its error."""
    now = utcnow()
    for rule in enabled_rules(session):
        try:
            with session.begin_nested():
                run_rule(session=session, rule=rule, now=now, profile_ids=changed.staged)
        except Exception:  # noqa: BLE001 - one broken rule must not block a bulk write
            log.exception("auto-tag rule %s failed for a bulk write's profiles", rule.id)

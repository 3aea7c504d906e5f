"""Running auto-tag rules: every entity matching a rule's condition gains its tag (sticky and live);
live rules also take the tag off entities they tagged that no longer match.

Each run is set-based: the rule compiles to one SELECT of matching ids (crm_segments/segments), and
adding, removing and auditing are ``INSERT ... SELECT`` / ``DELETE ... WHERE`` over it (rule_sql.py).
Entities where a person removed the tag by hand (suppressions) are skipped. Taggings a rule adds
carry its id, so a live rule only ever removes its own. Changed profiles are re-evaluated by
realtime.py.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Integer, MetaData, Select, Table, func, insert, literal, select
from sqlalchemy.orm import Session

from crm_segments.db import UTCDateTime, utcnow
from crm_segments.kernel.sql import dialect_name, execute_count
from crm_segments.kernel.unit_of_work import each_in_own_transaction
from crm_segments.models import AutoTagRule
from crm_segments.records.entities import entity_model

from .rule_sql import RuleSpec, RuleStatements, Scope, Steps, matching_ids
from .rules import get_rule

log = logging.getLogger(__name__)
MATCHES_TABLE = "crm_rule_matches"


@dataclass(frozen=True)
class RunResult:
    rule_id: int
    added: int  # taggings added (or, in a dry run, that would be)
    removed: int  # taggings removed by a live rule (or that would be)
    matched: int | None = None  # entities matching the condition, when counted
    duration_ms: int = 0
    dry_run: bool = False
    error: str | None = None


def run_steps(session: Session, steps: Steps, params: dict[str, Any] | None = None) -> int:
    """Run the steps in order; the last one's row count is the number of taggings changed.

    With ``params`` (cached statements) they run on the session's connection: handed to the ORM
    session, an INSERT with parameters would be taken for a bulk insert of those parameters.
    """
    if params is None:
        return ([execute_count(session, step) for step in steps] or [0])[-1]
    session.flush()
    connection = session.connection()
    changed = 0
    for step in steps:
        result = connection.execute(step, params, execution_options={"preserve_rowcount": True})
        changed = int(result.rowcount)
    return changed


def run_rule(
    *, session: Session, rule: AutoTagRule, now: dt.datetime | None = None,
    profile_ids: Collection[int] | Select[Any] | None = None, dry_run: bool = False,
    count_matches: bool = False,
) -> RunResult:
    """Apply one rule to every entity, or to those of ``profile_ids`` (or, with ``dry_run``, count
    what it would change, changing nothing). ``profile_ids`` may be a select of a bulk write's
    staged ids (kernel/staged_ids.py): the matches are then materialized, as for a full run."""
    now = now or utcnow()
    started = time.perf_counter()
    spec = RuleSpec.of(rule)
    table: Table | None = None
    scope: Scope | None = None
    if profile_ids is None or isinstance(profile_ids, Select):
        table = _materialize(session, matching_ids(spec, now=now, profile_ids=profile_ids))
        match_id: Any = table.c.id
        if profile_ids is not None:
            scope = _profiles_scope(spec.entity_type, profile_ids)
    else:
        # The compiler restricts every aggregate to these profiles' records; the scope limits the
        # taggings a live rule may remove to those profiles.
        scope = _profiles_scope(spec.entity_type, profile_ids)
        matches = matching_ids(spec, now=now, profile_ids=profile_ids)
        match_id = list(matches.subquery("matches").c)[0]
    statements = RuleStatements(spec, match_id, postgresql=dialect_name(session) == "postgresql",
                                now=literal(now, UTCDateTime()), scope=scope)
    try:
        matched = _count(session, select(match_id)) if count_matches or dry_run else None
        if dry_run:
            added = _count(session, statements.to_add())
            removed = _count(session, select(statements.tagging.entity_id).where(statements.stale()))
        else:
            added = run_steps(session, statements.add_steps())
            removed = run_steps(session, statements.remove_steps())
    finally:
        if table is not None:
            table.drop(session.connection())
    duration_ms = round((time.perf_counter() - started) * 1000)
    if profile_ids is None and not dry_run:
        rule.last_run_at, rule.last_added, rule.last_removed = now, added, removed
        rule.last_matched, rule.last_duration_ms, rule.last_error = matched, duration_ms, None
        session.flush()
    return RunResult(rule.id, added, removed, matched, duration_ms, dry_run)


def _count(session: Session, query: Select[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def _materialize(session: Session, ids: Select[Any]) -> Table:
    """The matches of a full run in a temporary table, dropped after the run (or at commit on
    PostgreSQL). The rule is evaluated once, not once for adding and again for removing; and with
    statistics on the table the planner joins against a set of known size. Estimating a rule's
    result is guesswork (a HAVING over a sum, say), and a bad guess turns the "no longer matches"
    anti-join into a nested loop over both sets."""
    table = Table(MATCHES_TABLE, MetaData(), Column("id", Integer, primary_key=True, autoincrement=False),
                  prefixes=["TEMPORARY"], postgresql_on_commit="DROP")
    connection = session.connection()
    table.create(connection)
    connection.execute(insert(table).from_select(["id"], ids))
    if connection.dialect.name == "postgresql":  # temporary tables are never auto-analyzed
        connection.exec_driver_sql(f"ANALYZE {MATCHES_TABLE}")
    return table


def _profiles_scope(entity_type: str, profile_ids: Collection[int] | Select[Any]) -> Scope:
    # A literal id list (realtime.py passes at most BATCH): PostgreSQL then looks the taggings up by
    # their primary key. Joined with an unnested array it scanned every tagging of the tag instead.
    # A bulk write's staged ids: a semi-join with a table whose size the planner knows.
    wanted = profile_ids if isinstance(profile_ids, Select) else sorted(set(profile_ids))
    if entity_type == "profile":
        return lambda entity_id: entity_id.in_(wanted)
    model = entity_model(entity_type)
    return lambda entity_id: entity_id.in_(select(model.id).where(model.profile_id.in_(wanted)))


def dry_run(*, session: Session, rule_id: int, now: dt.datetime | None = None) -> RunResult:
    """How many entities match and how many would gain or lose the tag, without changing anything."""
    return run_rule(session=session, rule=get_rule(session=session, rule_id=rule_id), now=now, dry_run=True)


def run_rule_now(*, session: Session, rule_id: int, now: dt.datetime | None = None) -> RunResult:
    return run_rule(session=session, rule=get_rule(session=session, rule_id=rule_id), now=now,
                    count_matches=True)


def enabled_rules(session: Session) -> Sequence[AutoTagRule]:
    return list(session.scalars(select(AutoTagRule).where(AutoTagRule.enabled).order_by(AutoTagRule.id)))


def run_all_rules(*, session: Session, now: dt.datetime | None = None) -> list[RunResult]:
    """Every enabled rule, in one transaction (the caller's). The scheduler uses run_auto_tag_rules."""
    now = now or utcnow()
    return [run_rule(session=session, rule=rule, now=now) for rule in enabled_rules(session)]


def run_auto_tag_rules(
    session_factory: Callable[[], Session], *, now: dt.datetime | None = None,
) -> list[RunResult]:
    """The scheduled job: every enabled rule, each in its own transaction, so one failing rule neither
    undoes nor blocks the others; its error is kept on the rule."""
    now = now or utcnow()
    with session_factory() as session:
        rule_ids = [r.id for r in enabled_rules(session)]

    def run_one(session: Session, rule_id: int) -> RunResult | None:
        rule = session.get(AutoTagRule, rule_id)
        if rule is None or not rule.enabled:
            return None  # deleted or turned off since the list was read
        return run_rule(session=session, rule=rule, now=now)

    def record_error(session: Session, rule_id: int, message: str) -> None:
        _record_error(session, rule_id, message, now)

    outcomes = each_in_own_transaction(session_factory, rule_ids, run_one, record_error=record_error,
                                       label="auto-tag rule")
    results = []
    for outcome in outcomes:
        if outcome.error is not None:
            results.append(RunResult(outcome.item, 0, 0, error=outcome.error))
        elif outcome.result is not None:
            results.append(outcome.result)
    return results


def _record_error(session: Session, rule_id: int, message: str, now: dt.datetime) -> None:
    rule = session.get(AutoTagRule, rule_id)
    if rule is not None:
        rule.last_run_at, rule.last_error = now, message[:2000]

"""The SQL of an auto-tag rule run: which entities match, and the statements that add the tag to
new matches and (live rules) take it off entities that stopped matching, with their audit rows.

Statements are built from a ``RuleSpec`` (the rule's parts that shape the SQL) so they can be cached
and re-run with parameters (``realtime.py``). Steps run in order; the last one's row count is the
number of taggings changed. On PostgreSQL a change and its audit rows are one statement with a
data-modifying CTE; SQLite lets one writer in at a time, so there the audit rows are written from
the same set just before the change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    Integer,
    Select,
    String,
    and_,
    delete,
    false,
    insert,
    literal,
    select,
)

from crm_segments.kernel.sql import insert_ignore
from crm_segments.models import AutoTagRule
from crm_segments.records.entities import suppression_model, tagging_model
from crm_segments.segments.compiler import compile_record_rule, compile_rule
from crm_segments.segments.periods import Now

from .audit import Actor, events_insert
from .rules import parse_condition

TAGGING_COLUMNS = ["entity_id", "tag_id", "source", "added_at", "rule_id"]
Steps = tuple[Executable, ...]
Scope = Callable[[Any], ColumnElement[bool]]


@dataclass(frozen=True)
class RuleSpec:
    """What the SQL of a rule depends on; hashable, so built statements can be cached by it."""

    rule_id: int | None  # None: an unsaved rule (a dry run of a form), which has tagged nothing
    entity_type: str
    tag_id: int
    mode: str
    document: str  # the condition as canonical JSON

    @classmethod
    def of(cls, rule: AutoTagRule) -> RuleSpec:
        document = json.dumps(rule.condition, sort_keys=True)
        return cls(rule.id, rule.entity_type, rule.tag_id, rule.mode, document)


def matching_ids(spec: RuleSpec, *, now: Now,
                 profile_ids: Collection[int] | Select[Any] | None = None) -> Select[Any]:
    """``SELECT id`` of the entities that satisfy the rule's condition at ``now``.

    ``profile_ids`` limits it to those profiles (or their records) and the compiler pushes the limit
    into every aggregate over records, so a batch of changed profiles never aggregates all records.
    """
    parsed = parse_condition(json.loads(spec.document), entity_type=spec.entity_type)
    if spec.entity_type == "profile":
        return compile_rule(parsed, now=now, profile_ids=profile_ids)
    return compile_record_rule(parsed, entity=spec.entity_type, now=now, profile_ids=profile_ids)


class RuleStatements:
    """Statements over ``match_id`` (a column of matching entity ids), optionally limited by ``scope``."""

    def __init__(self, spec: RuleSpec, match_id: Any, *, postgresql: bool, now: ColumnElement[Any],
                 scope: Scope | None = None) -> None:
        self.spec, self.match_id, self.now, self.scope = spec, match_id, now, scope
        self.postgresql = postgresql
        self.tagging = tagging_model(spec.entity_type)
        self.suppression = suppression_model(spec.entity_type)

    def to_add(self, *, tagged_check: bool = True) -> Select[Any]:
        """Matching entities without the tag and not suppressed for it.

        ``tagged_check=False`` leaves out "without the tag", for an INSERT ... ON CONFLICT DO NOTHING
        that skips those itself: planned against an empty tagging table (a first run), the NOT
        EXISTS became a nested loop re-reading the table as the statement filled it.
        """
        t, s, m, tag_id = self.tagging, self.suppression, self.match_id, self.spec.tag_id
        conditions = [~select(s.entity_id).where(s.entity_id == m, s.tag_id == tag_id).exists()]
        if tagged_check:
            conditions.insert(0, ~select(t.entity_id).where(t.entity_id == m, t.tag_id == tag_id).exists())
        return select(m.label("entity_id"), literal(tag_id, Integer()).label("tag_id")).where(*conditions)

    def stale(self) -> ColumnElement[bool]:
        """Taggings this rule added whose entity no longer matches (live rules remove them)."""
        t = self.tagging
        if self.spec.rule_id is None or self.spec.mode != "live":
            return false()
        condition = and_(t.tag_id == self.spec.tag_id, t.rule_id == self.spec.rule_id,
                         ~select(self.match_id).where(self.match_id == t.entity_id).exists())
        return and_(condition, self.scope(t.entity_id)) if self.scope else condition

    def _events(self, changed: Any, action: str) -> Executable:
        return events_insert(changed, entity_type=self.spec.entity_type, action=action,
                             actor=Actor("rule", rule_id=self.spec.rule_id), now=self.now)

    def add_steps(self) -> Steps:
        t = self.tagging
        candidates = self.to_add(tagged_check=not self.postgresql).subquery("candidates")
        rows = select(candidates.c.entity_id, candidates.c.tag_id, literal("rule", String()), self.now,
                      literal(self.spec.rule_id, Integer()))
        if self.postgresql:
            added = (insert_ignore("postgresql", t.__table__).from_select(TAGGING_COLUMNS, rows)
                     .returning(t.entity_id, t.tag_id).cte("added"))
            return (self._events(added, "added").add_cte(added),)  # type: ignore[attr-defined]
        return self._events(candidates, "added"), insert(t.__table__).from_select(TAGGING_COLUMNS, rows)

    def change_steps(self) -> Steps:
        """``add_steps() + remove_steps()``; on PostgreSQL, for a live rule, as one statement (one
        round trip instead of two: what a changed profile costs is mostly round trips)."""
        if not self.postgresql or self.spec.rule_id is None or self.spec.mode != "live":
            return self.add_steps() + self.remove_steps()
        t = self.tagging
        [add_events] = self.add_steps()
        gone = delete(t).where(self.stale()).returning(t.entity_id, t.tag_id).cte("gone")
        removed_events = self._events(gone, "removed").cte("removed_events")  # type: ignore[attr-defined]
        return (add_events.add_cte(gone, removed_events),)  # type: ignore[attr-defined]

    def remove_steps(self) -> Steps:
        t = self.tagging
        if self.spec.rule_id is None or self.spec.mode != "live":
            return ()
        if self.postgresql:
            gone = delete(t).where(self.stale()).returning(t.entity_id, t.tag_id).cte("gone")
            return (self._events(gone, "removed").add_cte(gone),)  # type: ignore[attr-defined]
        stale_rows = select(t.entity_id, t.tag_id).where(self.stale()).subquery()
        return self._events(stale_rows, "removed"), delete(t).where(self.stale())

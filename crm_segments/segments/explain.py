"""Why a profile is (or is not) matched by a rule: each condition and group, held or not.

Each node is checked in the database on its own, by compiling it and restricting the query to the
one profile, so the explanation uses exactly the SQL that decides membership.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from .compiler import compile_rule
from .describe import SegmentNames, describe
from .rules import AllOf, AnyOf, NotOf, Rule


@dataclass(frozen=True)
class ExplainNode:
    text: str  # the node in words
    holds: bool
    kind: str  # "all", "any", "not" or "condition"
    children: tuple[ExplainNode, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "holds": self.holds, "kind": self.kind,
                "children": [c.as_dict() for c in self.children]}


def explain(session: Session, rule: Rule, profile_id: int, *, now: dt.datetime,
            segment_names: SegmentNames | None = None) -> ExplainNode:
    """The rule tree of a profile rule with, for every node, whether it holds for ``profile_id``."""
    names = segment_names or {}
    children: tuple[ExplainNode, ...] = ()
    kind = "condition"
    if isinstance(rule, AllOf | AnyOf):
        kind = "all" if isinstance(rule, AllOf) else "any"
        children = tuple(explain(session, c, profile_id, now=now, segment_names=names)
                         for c in rule.children)
    elif isinstance(rule, NotOf):
        kind = "not"
        children = (explain(session, rule.child, profile_id, now=now, segment_names=names),)
    holds = session.execute(compile_rule(rule, now=now, profile_ids=[profile_id])).first() is not None
    return ExplainNode(describe(rule, segment_names=names), holds, kind, children)

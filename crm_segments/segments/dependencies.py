"""What a rule depends on (other segments' membership, RFM scores) and the order to evaluate in.

A rule that tests membership of segment B must be evaluated after B's membership is up to date, so
refreshes and near-real-time re-evaluation run segments level by level: first those that test no
other segment, then those that test only segments of earlier levels, and so on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from crm_segments.models import Segment

from .rules import (
    AllOf,
    AnyOf,
    FieldCondition,
    NotOf,
    ProfileCondition,
    RecordCondition,
    Rule,
    SegmentCondition,
    parse_rule,
)


@dataclass(frozen=True)
class RuleRefs:
    segments: frozenset[int | str]  # ids or keys of segments whose membership the rule tests
    uses_rfm: bool


def _nodes(rule: Rule) -> Iterator[Rule]:
    yield rule
    if isinstance(rule, AllOf | AnyOf):
        for child in rule.children:
            yield from _nodes(child)
    elif isinstance(rule, NotOf):
        yield from _nodes(rule.child)
    elif isinstance(rule, RecordCondition) and rule.where is not None:
        yield from _nodes(rule.where)
    elif isinstance(rule, ProfileCondition):
        yield from _nodes(rule.rule)


def rule_refs(rule: Rule) -> RuleRefs:
    nodes = list(_nodes(rule))
    return RuleRefs(
        segments=frozenset(n.segment for n in nodes if isinstance(n, SegmentCondition)),
        uses_rfm=any(isinstance(n, FieldCondition) and n.field.via == "rfm" for n in nodes),
    )


def segment_refs(segment: Segment) -> RuleRefs:
    """What a stored segment depends on; a static or query segment, or an unusable rule, on nothing."""
    if segment.kind != "live" or not segment.rule:
        return RuleRefs(frozenset(), False)
    try:
        return rule_refs(parse_rule(segment.rule))
    except ValueError:
        return RuleRefs(frozenset(), False)


class Keyed(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def key(self) -> str | None: ...


S = TypeVar("S", bound=Keyed)


def dependency_levels(segments: Sequence[S], refs: dict[int, RuleRefs]) -> list[list[S]]:
    """``segments`` grouped so that each one comes after every segment (of the list) it tests.

    Segments caught in a cycle (refused when saving, but possible in hand-edited data) come last.
    """
    by_ref: dict[int | str, int] = {}
    for s in segments:
        by_ref[s.id] = s.id
        if s.key:
            by_ref[s.key] = s.id
    needs = {s.id: {by_ref[r] for r in refs[s.id].segments if r in by_ref} - {s.id} for s in segments}
    done: set[int] = set()
    levels: list[list[S]] = []
    remaining = sorted(segments, key=lambda s: s.id)
    while remaining:
        ready = [s for s in remaining if needs[s.id] <= done]
        if not ready:  # a cycle: evaluate the rest in id order rather than not at all
            levels.append(remaining)
            break
        levels.append(ready)
        done |= {s.id for s in ready}
        remaining = [s for s in remaining if s.id not in done]
    return levels

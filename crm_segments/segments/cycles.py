"""Segment membership conditions form a graph; a rule that would close a loop is refused.

``{"segment": "vip"}`` reads the stored members of another segment, so "A contains members of B"
and "B contains members of A" could never settle. ``check_no_cycles`` follows the references of the
rule being saved through the other segments' stored rules and names the loop: ``A -> B -> A``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.models import Segment

from .rules import (
    AllOf,
    AnyOf,
    NotOf,
    ProfileCondition,
    RecordCondition,
    Rule,
    RuleError,
    SegmentCondition,
    parse_rule,
)


@dataclass(frozen=True)
class SegmentInfo:
    id: int
    key: str | None
    name: str
    rule: dict[str, Any] | None  # the stored rule document (None for static / query segments)


Resolver = Callable[[int | str], SegmentInfo | None]


def segment_references(rule: Rule) -> list[tuple[str, int | str]]:
    """(path, segment id or key) of every membership condition in ``rule``, in document order."""
    return list(_references(rule, "rule"))


def _references(rule: Rule, path: str) -> Iterator[tuple[str, int | str]]:
    if isinstance(rule, AllOf | AnyOf):
        kind = "all" if isinstance(rule, AllOf) else "any"
        for i, child in enumerate(rule.children):
            yield from _references(child, f"{path}.{kind}[{i}]")
    elif isinstance(rule, NotOf):
        yield from _references(rule.child, f"{path}.not")
    elif isinstance(rule, ProfileCondition):
        yield from _references(rule.rule, f"{path}.profile")
    elif isinstance(rule, RecordCondition) and rule.where is not None:
        yield from _references(rule.where, f"{path}.where")
    elif isinstance(rule, SegmentCondition):
        yield (f"{path}.segment", rule.segment)


def database_resolver(session: Session) -> Resolver:
    def resolve(ref: int | str) -> SegmentInfo | None:
        column = Segment.id if isinstance(ref, int) else Segment.key
        segment = session.execute(select(Segment).where(column == ref)).scalar_one_or_none()
        if segment is None:
            return None
        return SegmentInfo(segment.id, segment.key, segment.name, segment.rule)
    return resolve


def check_no_cycles(session: Session, segment_id: int | None, rule: Rule, *, key: str | None = None,
                    name: str = "this segment", resolve: Resolver | None = None) -> None:
    """Refuse ``rule`` for the segment (``segment_id`` / ``key``) if it references a missing
    segment or a chain of segments leading back to itself; RuleError names the path and the loop."""
    resolve = resolve or database_resolver(session)

    def is_self(ref: int | str, info: SegmentInfo | None) -> bool:
        # By the reference itself too: a segment not saved yet can already be named by its key.
        ids = {segment_id, key} - {None}
        return ref in ids or (info is not None and bool({info.id, info.key} & ids))

    for path, ref in segment_references(rule):
        first = resolve(ref)
        if is_self(ref, first):
            raise RuleError(path, f"membership cycle: {name} -> {name}")
        if first is None:
            raise RuleError(path, f"unknown segment {ref!r}")
        loop = _find_loop(first, is_self, resolve, set())
        if loop is not None:
            raise RuleError(path, f"membership cycle: {' -> '.join([name, *loop, name])}")


def _find_loop(info: SegmentInfo, is_self: Callable[[int | str, SegmentInfo | None], bool],
               resolve: Resolver, seen: set[int]) -> list[str] | None:
    """Names along a chain from ``info`` back to the segment being saved, or None."""
    if info.id in seen or info.rule is None:
        return None
    seen.add(info.id)
    try:
        stored = parse_rule(info.rule)
    except RuleError:
        return None  # an invalid stored rule fails at its own refresh; it references nothing here
    for _path, ref in segment_references(stored):
        target = resolve(ref)
        if is_self(ref, target):
            return [info.name]
        if target is None:
            continue
        rest = _find_loop(target, is_self, resolve, seen)
        if rest is not None:
            return [info.name, *rest]
    return None

"""Membership conditions may not loop back to the segment being saved."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from crm_segments.models import Segment
from crm_segments.segments.cycles import SegmentInfo, check_no_cycles, segment_references
from crm_segments.segments.rules import RuleError, parse_rule


def live(session: Session, name: str, rule: dict[str, Any] | None, key: str | None = None) -> Segment:
    segment = Segment(name=name, key=key, kind="live", rule=rule)
    session.add(segment)
    session.flush()
    return segment


def test_a_loop_is_refused_with_the_loop_named(session: Session) -> None:
    vip = live(session, "VIP", {"field": "region", "op": "is_set"}, key="vip")
    loyal = live(session, "Loyal", {"segment": "vip"})
    champions = live(session, "Champions", {"all": [{"tags": "x"}, {"segment": loyal.id}]})
    # VIP is edited to require Champions: VIP -> Champions -> Loyal -> VIP
    rule = parse_rule({"any": [{"field": "region", "op": "is_set"}, {"segment": champions.id}]})
    with pytest.raises(RuleError) as caught:
        check_no_cycles(session, vip.id, rule, name="VIP")
    assert caught.value.path == "rule.any[1].segment"
    assert caught.value.message == "membership cycle: VIP -> Champions -> Loyal -> VIP"


def test_self_reference_and_unknown_segments(session: Session) -> None:
    vip = live(session, "VIP", None, key="vip")
    with pytest.raises(RuleError, match="membership cycle: VIP -> VIP"):
        check_no_cycles(session, vip.id, parse_rule({"not": {"segment": "vip"}}), name="VIP")
    with pytest.raises(RuleError, match="unknown segment 'gone'") as caught:
        check_no_cycles(session, vip.id, parse_rule({"all": [{"segment": "gone"}]}))
    assert caught.value.path == "rule.all[0].segment"


def test_a_new_segment_is_found_by_its_key(session: Session) -> None:
    loyal = live(session, "Loyal", {"segment": "future"})
    with pytest.raises(RuleError, match="membership cycle: Future -> Loyal -> Future"):
        check_no_cycles(session, None, parse_rule({"segment": loyal.id}), key="future", name="Future")


def test_a_custom_resolver_is_used() -> None:
    a, b = SegmentInfo(7, "a", "A", {"segment": 8}), SegmentInfo(8, "b", "B", {"segment": "a"})
    stored: dict[int | str, SegmentInfo] = {7: a, "a": a, 8: b, "b": b}
    with pytest.raises(RuleError, match="membership cycle: A -> B -> A"):
        check_no_cycles(None, 7, parse_rule({"segment": 8}), name="A", resolve=stored.get)  # type: ignore[arg-type]


def test_chains_without_loops_pass(session: Session) -> None:
    base = live(session, "Base", {"field": "region", "op": "is_set"})
    middle = live(session, "Middle", {"segment": base.id})
    live(session, "Broken", {"all": []})  # an invalid stored rule references nothing
    rule = parse_rule({"all": [{"segment": middle.id}, {"segment": base.id}]})
    check_no_cycles(session, None, rule, name="New")
    assert segment_references(rule) == [("rule.all[0].segment", middle.id), ("rule.all[1].segment", base.id)]

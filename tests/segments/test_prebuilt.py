"""Pre-created segments: idempotent install, parameters, reset, and what the main ones select."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import Segment
from crm_segments.schemas.segments import SegmentPatch
from crm_segments.segments.prebuilt import BUILTINS, BY_KEY, install_builtin_segments, reset_to_shipped
from crm_segments.segments.refresh import refresh_many, refresh_segment
from crm_segments.segments.service import delete_segment, update_segment
from crm_segments.wiring import install_defaults
from tests.factories import JobFactory, ProfileFactory, QuoteFactory
from tests.segments.test_refresh import members

NOW = dt.datetime.now(dt.UTC)


def days_ago(days: int) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def builtin(session: Session, key: str) -> Segment:
    return session.scalars(select(Segment).where(Segment.key == key)).one()


def test_the_shipped_list() -> None:
    keys = [b.key for b in BUILTINS]
    assert len(keys) == len(set(keys)) == 13 + 6 + 1
    assert {"rfm_vip", "rfm_big_spender", "rfm_loyal", "rfm_high_value_churned", "rfm_low_value_churned",
            "rfm_new_customer", "quoted_not_converted"} <= set(keys)


def test_install_is_idempotent_and_keeps_edits(session: Session) -> None:
    install_defaults(session=session)
    count = session.scalar(select(func.count()).select_from(Segment).where(Segment.is_builtin.is_(True)))
    assert count == len(BUILTINS)
    active = builtin(session, "active_customers")
    assert active.parameters == {"days": 365} and active.rule == active.shipped_rule
    update_segment(session, active, data=SegmentPatch.model_validate({"parameters": {"days": 180}}))
    vip = builtin(session, "rfm_vip")
    update_segment(session, vip, data=SegmentPatch.model_validate({"name": "Our VIPs"}))

    install_builtin_segments(session)

    assert session.scalar(select(func.count()).select_from(Segment)) == len(BUILTINS)
    assert builtin(session, "active_customers").parameters == {"days": 180}
    assert builtin(session, "active_customers").rule != builtin(session, "active_customers").shipped_rule
    assert builtin(session, "rfm_vip").name == "Our VIPs"


def test_reinstall_recreates_a_missing_one(session: Session) -> None:
    install_builtin_segments(session)
    session.delete(builtin(session, "customers_in_region"))
    session.flush()
    created = install_builtin_segments(session)
    assert [s.key for s in created] == ["customers_in_region"]


def test_parameters_change_the_rule_and_reset_brings_it_back(session: Session) -> None:
    install_builtin_segments(session)
    segment = builtin(session, "customers_in_region")
    inside, outside = ProfileFactory(region="Texas"), ProfileFactory(region="California")

    update_segment(session, segment,
                   data=SegmentPatch.model_validate({"parameters": {"regions": ["Texas"]}}))
    refresh_segment(session, segment, now=NOW)
    assert members(session, segment) == {inside.id} and "Texas" in segment.description

    austin = {"field": "city", "op": "eq", "value": "Austin"}
    update_segment(session, segment, data=SegmentPatch.model_validate({"rule": austin}))
    assert segment.parameters is None  # a hand-written rule

    reset_to_shipped(segment)
    refresh_segment(session, segment, now=NOW)
    assert segment.parameters == {"regions": ["California"]} and segment.rule == segment.shipped_rule
    assert members(session, segment) == {outside.id}


@pytest.mark.parametrize(("parameters", "field"), [
    ({"days": 0}, "parameters.days"),
    ({"days": "soon"}, "parameters.days"),
    ({"weeks": 3}, "parameters.weeks"),
])
def test_bad_parameters_are_refused_by_name(session: Session, parameters: dict[str, object],
                                            field: str) -> None:
    install_builtin_segments(session)
    segment = builtin(session, "new_customers")
    with pytest.raises(ValidationFailed) as caught:
        update_segment(session, segment, data=SegmentPatch.model_validate({"parameters": parameters}))
    assert caught.value.errors[0].field == field
    assert segment.parameters == {"days": 90}


def test_builtins_cannot_be_deleted(session: Session) -> None:
    install_builtin_segments(session)
    with pytest.raises(ValidationFailed, match="reset it instead"):
        delete_segment(session, builtin(session, "rfm_vip"))


def test_customer_lifecycle_segments(session: Session, session_factory: sessionmaker[Session]) -> None:
    new = ProfileFactory()
    JobFactory(profile=new, finished_at=days_ago(10))
    active_old = ProfileFactory()
    JobFactory(profile=active_old, finished_at=days_ago(800))
    JobFactory(profile=active_old, finished_at=days_ago(100))
    lapsed = ProfileFactory()
    JobFactory(profile=lapsed, finished_at=days_ago(500))
    only_cancelled = ProfileFactory()
    JobFactory(profile=only_cancelled, status="cancelled", finished_at=days_ago(5))
    quoted = ProfileFactory()
    QuoteFactory(profile=quoted, status="sent", sent_at=days_ago(30))
    converted = ProfileFactory()
    QuoteFactory(profile=converted, status="sent", sent_at=days_ago(30))
    JobFactory(profile=converted, status="scheduled", finished_at=None)
    install_builtin_segments(session)
    session.commit()

    results = refresh_many(session_factory, [s.id for s in session.scalars(select(Segment))], now=NOW)

    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    session.expire_all()
    assert members(session, builtin(session, "new_customers")) == {new.id}
    assert members(session, builtin(session, "active_customers")) == {new.id, active_old.id}
    assert members(session, builtin(session, "inactive_customers")) == {lapsed.id}
    assert members(session, builtin(session, "customers")) == {new.id, active_old.id, lapsed.id}
    assert members(session, builtin(session, "quoted_not_converted")) == {quoted.id}
    assert members(session, builtin(session, "new_to_quotes")) == {quoted.id, converted.id}


def test_rfm_segments_use_fresh_scores(session: Session, session_factory: sessionmaker[Session]) -> None:
    # Ten customers: recency, count and spend rise together, so each scores 1,1,2,2,...,5,5: the top
    # four (scores 4-5) are VIP, the bottom four (1-2) low value churned.
    people = []
    for i in range(10):
        person = ProfileFactory()
        for _ in range(i + 1):
            JobFactory(profile=person, amount=Decimal(100 * (i + 1)), finished_at=days_ago(400 - 40 * i))
        people.append(person)
    install_builtin_segments(session)
    session.commit()
    rfm_ids = [builtin(session, b.key).id for b in BUILTINS if b.key.startswith("rfm_")]

    results = refresh_many(session_factory, rfm_ids, now=NOW)

    assert all(r.ok for r in results)
    session.expire_all()
    assert members(session, builtin(session, "rfm_vip")) == {p.id for p in people[6:]}
    assert members(session, builtin(session, "rfm_low_value_churned")) == {p.id for p in people[:4]}
    assert members(session, builtin(session, "rfm_new_customer")) == set()
    assert BY_KEY["rfm_vip"].defaults == {"high": 4}

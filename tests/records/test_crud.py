"""The record services: validation, references, uniqueness, derived values, all or nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import Conflict, NotFound, ValidationFailed
from crm_segments.models import Opportunity, Profile, Quote, SupportTicket
from crm_segments.records import KINDS, WriteContext, crud
from crm_segments.schemas.batch import BatchIn
from tests.factories import ProfileFactory, QuoteFactory
from tests.records import writes

QUOTES, PROFILES, TICKETS = KINDS["quotes"], KINDS["profiles"], KINDS["tickets"]


def _fields(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [e.field for e in exc.value.errors]


def test_create_resolves_references_by_key_or_id(session: Session, backend: str) -> None:
    profile = ProfileFactory(external_id="P-1")
    by_key = writes.create(TICKETS, session=session,
                           data={"external_id": "T-1", "profile_external_id": "P-1"})
    by_id = writes.create(TICKETS, session=session, data={"external_id": "T-2", "profile_id": profile.id})
    assert by_key.profile_id == by_id.profile_id == profile.id
    assert by_key.opened_at is not None


def test_reference_mismatch_and_missing_rows_are_named(session: Session, backend: str) -> None:
    profile = ProfileFactory(external_id="P-1")
    other = ProfileFactory()
    with pytest.raises(ValidationFailed) as mismatch:
        writes.create(TICKETS, session=session, data={"external_id": "T", "profile_id": other.id,
                                                    "profile_external_id": profile.external_id})
    assert _fields(mismatch) == ["profile_external_id"]
    with pytest.raises(ValidationFailed) as missing:
        writes.create(TICKETS, session=session, data={"external_id": "T", "profile_id": 987654})
    assert _fields(missing) == ["profile_id"]
    with pytest.raises(ValidationFailed) as cleared:
        writes.update(TICKETS, session=session, id=writes.create(
            TICKETS, session=session, data={"external_id": "T", "profile_id": profile.id}).id,
            data={"profile_id": None})
    assert _fields(cleared) == ["profile_id"]


def test_unique_fields_conflict(session: Session, backend: str) -> None:
    quote = QuoteFactory(number="Q-1", external_id="QX")
    with pytest.raises(Conflict) as taken:
        writes.update(QUOTES, session=session, id=QuoteFactory().id, data={"number": "Q-1"})
    assert taken.value.field == "number"
    same = writes.update(QUOTES, session=session, id=quote.id, data={"number": "Q-1"})
    assert same.number == "Q-1"  # keeping one's own value is no conflict


def test_a_bad_line_writes_no_quote(session: Session, backend: str) -> None:
    profile = ProfileFactory()
    with pytest.raises(ValidationFailed) as failed:
        writes.create(QUOTES, session=session, data={
            "external_id": "Q", "profile_id": profile.id, "number": "N",
            "lines": [{"unit_price": "1"}, {"product_sku": "missing"}]})
    assert _fields(failed) == ["lines[1].product_sku"]
    assert session.scalar(select(func.count()).select_from(Quote)) == 0


def test_status_changes_stamp_their_time_once(session: Session, backend: str) -> None:
    profile = ProfileFactory()
    at = dt.datetime(2026, 2, 1, 9, 30, tzinfo=dt.UTC)
    ctx = WriteContext(now=at)
    opp = writes.create(KINDS["opportunities"], session=session, ctx=ctx,
                      data={"external_id": "O", "profile_id": profile.id})
    assert opp.closed_at is None
    won = writes.update(KINDS["opportunities"], session=session, id=opp.id, data={"stage": "won"}, ctx=ctx)
    assert won.closed_at == at
    later = WriteContext(now=at + dt.timedelta(days=1))
    again = writes.update(KINDS["opportunities"], session=session, id=opp.id, data={"stage": "won"},
                          ctx=later)
    assert again.closed_at == at
    given = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    ticket = writes.create(TICKETS, session=session, ctx=ctx, data={
        "external_id": "T", "profile_id": profile.id, "status": "closed", "closed_at": given.isoformat()})
    assert ticket.closed_at == given


def test_consent_records_source_of_the_write(session: Session, backend: str) -> None:
    profile = writes.create(PROFILES, session=session, ctx=WriteContext(source="ui"),
                          data={"external_id": "P", "sms_consent": True})
    assert (profile.sms_consent_source, profile.email_consent_source) == ("ui", None)
    withdrawn = writes.update(PROFILES, session=session, id=profile.id, data={"sms_consent": False})
    assert withdrawn.sms_consent is False and withdrawn.sms_consent_source == "api"


def test_upsert_many_is_all_or_nothing(session: Session, changed: list[set[int]], backend: str) -> None:
    ProfileFactory(external_id="A", first_name="Old")
    with pytest.raises(ValidationFailed) as failed:
        crud.upsert_many(PROFILES, session=session, batch=BatchIn(items=[
            {"external_id": "A", "first_name": "New"}, {"external_id": "B", "phone": "nope"}]))
    assert _fields(failed) == ["items[1].phone"]
    session.expire_all()
    assert session.scalars(select(Profile.first_name).where(Profile.external_id == "A")).one() == "Old"
    assert session.scalar(select(func.count()).select_from(Profile)) == 1
    assert changed == []


def test_delete_and_get(session: Session, changed: list[set[int]], backend: str) -> None:
    profile = ProfileFactory()
    opp = writes.create(KINDS["opportunities"], session=session,
                      data={"external_id": "O", "profile_id": profile.id, "value": "10.5"})
    opp_id, profile_id = opp.id, profile.id
    assert crud.get(KINDS["opportunities"], session=session, id=opp_id).value == Decimal("10.50")
    crud.delete(PROFILES, session=session, id=profile_id)
    assert changed[-1] == {profile_id}
    session.expire_all()
    assert session.get(Opportunity, opp_id) is None
    with pytest.raises(NotFound, match="no profile with id"):
        crud.get(PROFILES, session=session, id=profile_id)


def test_list_filters_by_status_and_profile(session: Session, backend: str) -> None:
    profile = ProfileFactory()
    mine = [writes.create(TICKETS, session=session, data={
        "external_id": f"T-{n}", "profile_id": profile.id, "status": status})
        for n, status in enumerate(["open", "closed", "open"])]
    writes.create(TICKETS, session=session, data={"external_id": "X", "profile_id": ProfileFactory().id})
    page = crud.list_page(TICKETS, session=session, filters={"profile_id": str(profile.id), "status": "open"})
    assert [t.id for t in page.rows] == [mine[0].id, mine[2].id] and page.next_after is None
    assert all(isinstance(t, SupportTicket) for t in page.rows)


def test_a_new_email_clears_the_bounce_of_the_old_one(session: Session, backend: str) -> None:
    bounced = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    profile = ProfileFactory(email="old@example.com", email_bounced_at=bounced)
    same = writes.update(PROFILES, session=session, id=profile.id, data={"email": "old@example.com"})
    assert same.email_bounced_at == bounced
    changed = writes.update(PROFILES, session=session, id=profile.id, data={"email": "new@example.com"})
    assert changed.email_bounced_at is None


def test_the_services_take_the_input_models_and_refuse_anything_else(session: Session, backend: str) -> None:
    profile = ProfileFactory(external_id="P-9")
    given = TICKETS.create_schema.model_validate({"external_id": "T-9", "profile_id": profile.id})
    ticket = crud.create(TICKETS, session=session, data=given)
    assert ticket.profile_id == profile.id
    with pytest.raises(TypeError):  # a dict would skip the one validation
        crud.create(TICKETS, session=session, data={"external_id": "T-10"})  # type: ignore[arg-type]
    with pytest.raises(TypeError):  # a create model is not a change
        crud.update(TICKETS, session=session, id=ticket.id,
                    data=TICKETS.create_schema.model_validate({"external_id": "T-9"}))

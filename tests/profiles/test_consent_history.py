"""Every consent change writes a consent history row in the same transaction, whatever the source:
a CSV import (set-based, naming the line and who imported), the records services the API uses, a
person on the profile page, and the recipients themselves (tested in tests/delivery)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import ConsentChange, Profile
from crm_segments.profiles import consent
from crm_segments.records import KINDS, WriteContext, crud
from crm_segments.records.importer import import_csv
from crm_segments.schemas.batch import BatchIn
from tests.factories import AdminFactory, ProfileFactory
from tests.records import writes

pytestmark = pytest.mark.usefixtures("backend")
BEFORE = dt.datetime(2028, 1, 2, 3, 4, tzinfo=dt.UTC)


def _history(session: Session, profile_id: int) -> list[ConsentChange]:
    return list(session.scalars(select(ConsentChange).where(ConsentChange.profile_id == profile_id)
                                .order_by(ConsentChange.id)))


def _profile(session: Session, external_id: str) -> Profile:
    return session.scalars(select(Profile).where(Profile.external_id == external_id)).one()


def test_a_csv_import_writes_a_row_per_changed_consent_naming_the_line(session: Session) -> None:
    admin = AdminFactory(email="ada@example.com")
    flips = ProfileFactory(external_id="P-1", email_consent=True, email_consent_source="form",
                           email_consent_at=BEFORE)
    same = ProfileFactory(external_id="P-2", sms_consent=True, sms_consent_source="api",
                          sms_consent_at=BEFORE)
    text = ("external_id,email_consent,sms_consent\n"
            "P-1,no,\n"        # withdraws email
            "P-2,,yes\n"       # already given: nothing to record
            "P-3,yes,yes\n"    # new, gives both
            "P-4,no,no\n")     # new, gives nothing: nothing to record
    import_csv(session=session, kind="profiles", stream=io.BytesIO(text.encode()), user=admin,
               chunk_rows=2)  # two chunks
    [withdrawn] = _history(session, flips.id)
    assert (withdrawn.channel, withdrawn.old_value, withdrawn.new_value, withdrawn.source) == (
        "email", True, False, "import")
    assert (withdrawn.previous_source, withdrawn.previous_at) == ("form", BEFORE)
    assert (withdrawn.actor, withdrawn.user_id, withdrawn.detail) == ("ada@example.com", admin.id,
                                                                      "CSV import, line 2")
    session.refresh(flips)
    assert withdrawn.changed_at == flips.email_consent_at and flips.email_consent_source == "import"
    assert _history(session, same.id) == []
    new = _profile(session, "P-3")
    rows = _history(session, new.id)
    assert sorted((r.channel, r.old_value, r.new_value, r.detail, r.previous_source) for r in rows) == [
        ("email", False, True, "CSV import, line 4", None), ("sms", False, True, "CSV import, line 4", None)]
    assert _history(session, _profile(session, "P-4").id) == []


def test_a_failed_import_writes_no_history(session: Session) -> None:
    flips = ProfileFactory(external_id="P-1", email_consent=True)
    with pytest.raises(ValidationFailed):
        import_csv(session=session, kind="profiles", chunk_rows=1,  # the first row is written, then undone
                   stream=io.BytesIO(b"external_id,email_consent,email\nP-1,no,\nP-2,yes,not-an-email\n"))
    assert _history(session, flips.id) == []
    session.refresh(flips)
    assert flips.email_consent is True


def test_an_import_from_the_command_line_names_it(session: Session) -> None:
    import_csv(session=session, kind="profiles", stream=io.BytesIO(b"external_id,sms_consent\nP-9,true\n"))
    [row] = _history(session, _profile(session, "P-9").id)
    assert (row.actor, row.user_id, row.source) == ("command line", None, "import")


def test_record_writes_record_who_changed_consent(session: Session) -> None:
    admin = AdminFactory(email="host@example.com")
    ctx = WriteContext(source="api", actor="host@example.com, API key crm_0123", user_id=admin.id)
    profiles = KINDS["profiles"]
    created = writes.create(profiles, session=session, data={"external_id": "A-1", "email_consent": True},
                          ctx=ctx)
    writes.update(profiles, session=session, id=created.id, data={"email_consent": True, "first_name": "Al"},
                ctx=ctx)  # unchanged: no row
    writes.update(profiles, session=session, id=created.id, data={"email_consent": False}, ctx=ctx)
    crud.upsert_many(profiles, session=session, ctx=ctx, batch=BatchIn(items=[
        {"external_id": "A-1", "sms_consent": True}, {"external_id": "A-2", "sms_consent": False}]))
    rows = _history(session, created.id)
    assert [(r.channel, r.old_value, r.new_value, r.previous_source) for r in rows] == [
        ("email", False, True, None), ("email", True, False, "api"), ("sms", False, True, None)]
    assert {(r.source, r.actor, r.user_id) for r in rows} == {("api", ctx.actor, admin.id)}
    assert _history(session, _profile(session, "A-2").id) == []


def test_a_person_records_consent_with_a_note(session: Session) -> None:
    admin = AdminFactory(email="ada@example.com")
    profile = ProfileFactory()
    who = consent.Actor(admin.email, admin.id)
    with pytest.raises(ValidationFailed) as caught:
        consent.change_from_form(session, profile_id=profile.id, channel="email", granted=True, actor=who,
                                 note="  ")
    assert [e.field for e in caught.value.errors] == ["note"]
    with pytest.raises(ValidationFailed):
        consent.change_from_form(session, profile_id=profile.id, channel="fax", granted=False, actor=who,
                                 note="")
    change = consent.change_from_form(session, profile_id=profile.id, channel="email", granted=True,
                                      actor=who, note="Signed form at the trade fair")
    assert change is not None and (change.source, change.actor, change.user_id, change.detail) == (
        "ui", "ada@example.com", admin.id, "Signed form at the trade fair")
    assert consent.change_from_form(session, profile_id=profile.id, channel="email", granted=True, actor=who,
                                    note="again") is None
    session.refresh(profile)
    assert profile.email_consent and profile.email_consent_source == "ui"


def test_the_history_pages_newest_first(session: Session) -> None:
    profile = ProfileFactory()
    for granted in (True, False, True, False, True):
        consent.set_consent(session, profile=profile, channel="sms", granted=granted, source="api")
    first, after = consent.history(session, profile_id=profile.id, limit=3)
    rest, last = consent.history(session, profile_id=profile.id, limit=3, after=after)
    ids = [r.id for r in first + rest]
    assert ids == sorted(ids, reverse=True) and len(ids) == 5 and last is None
    assert [r.new_value for r in first] == [True, False, True]


def test_a_bounce_is_recorded_once(session: Session) -> None:
    profile = ProfileFactory(email_consent=True)
    assert consent.record_bounce(session, profile=profile, actor=consent.Actor("SendGrid")) is not None
    assert consent.record_bounce(session, profile=profile) is None
    [row] = _history(session, profile.id)
    assert (row.source, row.old_value, row.new_value, row.actor) == ("bounce", True, True, "SendGrid")
    assert profile.email_consent is True and profile.email_bounced_at is not None

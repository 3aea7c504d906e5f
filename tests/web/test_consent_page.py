"""Consent on the profile page: the history of every change with source, time and actor, and a form to
record consent given (admins, with how it was given) or withdrawn (anyone)."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from crm_segments.models import ConsentChange, Profile, User
from crm_segments.profiles import consent
from tests.factories import ProfileFactory
from tests.signed_in import csrf_token_from

pytestmark = pytest.mark.usefixtures("backend")
AT = dt.datetime(2029, 5, 6, 7, 8, tzinfo=dt.UTC)


def _rows(session: Session, profile: Profile) -> list[ConsentChange]:
    return list(session.scalars(select(ConsentChange).where(ConsentChange.profile_id == profile.id)
                                .order_by(ConsentChange.id)))


def _post(client: FlaskClient, profile: Profile, **form: str) -> TestResponse:
    token = csrf_token_from(client.get(f"/profiles/{profile.id}"))
    return client.post(f"/profiles/{profile.id}/consent", data={"csrf_token": token, **form})


def test_the_page_shows_the_history_of_every_source(sales_client: FlaskClient, session: Session) -> None:
    profile = ProfileFactory(phone="+15557770001")
    consent.set_consent(session, profile=profile, channel="sms", granted=True, source="import",
                        actor=consent.Actor("ada@example.com"), detail="CSV import, line 7", now=AT)
    consent.set_consent(session, profile=profile, channel="sms", granted=False, source="sms_keyword",
                        actor=consent.Actor("+15557770001"), detail="replied STOP",
                        now=AT + dt.timedelta(days=1))
    consent.record_bounce(session, profile=profile, actor=consent.Actor("SendGrid"),
                          detail="550 no such user")
    page = html.unescape(sales_client.get(f"/profiles/{profile.id}").get_data(as_text=True))
    section = page.split('id="consent_history"')[1].split("</section>")[0]
    for shown in ("2029-05-06 07:08 UTC", "CSV import, line 7", "ada@example.com", "replied STOP",
                  "+15557770001", "sms keyword", "(before: import, 2029-05-06)", "address bounced",
                  "SendGrid"):
        assert shown in section, shown
    assert section.index("address bounced") < section.index("replied STOP") < section.index("line 7")


def test_an_admin_records_consent_with_how_it_was_given(admin_client: FlaskClient, admin_user: User,
                                                        session: Session) -> None:
    profile = ProfileFactory()
    refused = _post(admin_client, profile, channel="email", granted="1", note=" ")
    assert refused.status_code == 302
    shown = admin_client.get(f"/profiles/{profile.id}").get_data(as_text=True)
    assert "say how the consent was given" in shown
    assert _rows(session, profile) == []
    done = _post(admin_client, profile, channel="email", granted="1", note="Signed form, trade fair")
    assert done.headers["Location"].endswith(f"/profiles/{profile.id}#consent")
    [row] = _rows(session, profile)
    assert (row.source, row.actor, row.user_id, row.detail, row.new_value) == (
        "ui", admin_user.email, admin_user.id, "Signed form, trade fair", True)
    session.refresh(profile)
    assert profile.email_consent and profile.email_consent_source == "ui"


def test_sales_may_withdraw_but_not_give(sales_client: FlaskClient, sales_user: User,
                                         session: Session) -> None:
    profile = ProfileFactory(sms_consent=True, sms_consent_source="api")
    page = sales_client.get(f"/profiles/{profile.id}").get_data(as_text=True)
    assert "Withdraw SMS consent" in page and "Record Email consent" not in page
    denied = _post(sales_client, profile, channel="email", granted="1", note="told me")
    assert denied.status_code == 403
    _post(sales_client, profile, channel="sms", granted="0", note="asked on the phone")
    [row] = _rows(session, profile)
    assert (row.source, row.actor, row.old_value, row.new_value, row.previous_source) == (
        "ui", sales_user.email, True, False, "api")
    no_token = sales_client.post(f"/profiles/{profile.id}/consent", data={"channel": "sms", "granted": "0"})
    assert no_token.status_code == 400 and len(_rows(session, profile)) == 1

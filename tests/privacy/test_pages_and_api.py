"""The export and the erasure through the API and the profile page: admins only, the erasure's audit
says through which, and a refused request changes nothing."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.accounts import users
from crm_segments.models import Erasure, MessageEvent, Profile, User
from crm_segments.state import get_state
from tests.factories import ProfileFactory, UserFactory
from tests.signed_in import csrf_token_from
from tests.web.api.conftest import Api

from .people import Person, person, shared


def _api(client: FlaskClient, session: Session, role: str) -> Api:
    user = UserFactory(role=role)
    return Api(client, users.create_api_key(session=session, email=user.email, name=role)[1])


def _zoe(app: Flask, session: Session) -> Person:
    return person(session, 1, shared(session), get_state(app).settings.outbox_dir)


def _gone(session: Session, profile_id: int) -> bool:
    session.expire_all()
    return session.get(Profile, profile_id) is None


def test_api_export_and_erasure_need_an_admins_key(app: Flask, client: FlaskClient, session: Session) -> None:
    zoe = _zoe(app, session)
    zoe_id, phone = zoe.profile.id, zoe.profile.phone
    admin, sales = _api(client, session, "admin"), _api(client, session, "sales")
    assert sales.get(f"/profiles/{zoe_id}/export").status_code == 403
    assert sales.delete(f"/profiles/{zoe_id}").status_code == 403
    exported = admin.get(f"/profiles/{zoe_id}/export")
    assert exported.status_code == 200 and exported.json["profile"]["phone"] == phone
    assert exported.json["inbound_texts"][0]["text"] == "This is Zoe1, call me"
    assert admin.get("/profiles/999999/export").status_code == 404

    assert admin.delete(f"/profiles/{zoe_id}").status_code == 204
    assert _gone(session, zoe_id) and not any(path.exists() for path in zoe.files)
    inbound = select(func.count()).where(MessageEvent.event == "inbound")
    assert session.scalar(inbound) == 0
    audit = session.scalars(select(Erasure)).one()
    assert audit.via == "api" and audit.profile_id == zoe_id and audit.rows["crm_message_events"] == 5
    assert admin.delete(f"/profiles/{zoe_id}").status_code == 404


def test_profile_page_offers_export_and_erasure_to_admins_only(app: Flask, admin_client: FlaskClient,
                                                               session: Session) -> None:
    zoe = _zoe(app, session)
    zoe_id, email = zoe.profile.id, zoe.profile.email
    page = admin_client.get(f"/profiles/{zoe_id}").get_data(as_text=True)
    assert 'id="profile-export"' in page and 'id="profile-erase"' in page
    download = admin_client.get(f"/profiles/{zoe_id}/export.json")
    assert download.status_code == 200 and download.mimetype == "application/json"
    assert download.headers["Content-Disposition"] == f'attachment; filename="profile-{zoe_id}.json"'
    assert download.json["profile"]["email"] == email  # type: ignore[index]

    confirm = admin_client.get(f"/profiles/{zoe_id}/erase")
    text = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and 'id="erasure-preview"' in text
    assert "the profile&#39;s quotes" in text
    refused = admin_client.post(f"/profiles/{zoe_id}/erase", data={})  # no CSRF token
    assert refused.status_code == 400 and not _gone(session, zoe_id)
    done = admin_client.post(f"/profiles/{zoe_id}/erase", data={"csrf_token": csrf_token_from(confirm)},
                             follow_redirects=True)
    assert done.status_code == 200 and f"Profile #{zoe_id} was erased" in done.get_data(as_text=True)
    assert _gone(session, zoe_id) and not any(path.exists() for path in zoe.files)
    admin = session.scalars(select(User).where(User.role == "admin")).one()
    audit = session.scalars(select(Erasure)).one()
    assert (audit.via, audit.erased_by_id, audit.outbox_files) == ("ui", admin.id, 2)
    assert admin_client.get(f"/profiles/{zoe_id}/erase").status_code == 404


def test_sales_users_neither_see_nor_use_them(sales_client: FlaskClient, session: Session) -> None:
    profile = ProfileFactory()
    page = sales_client.get(f"/profiles/{profile.id}").get_data(as_text=True)
    assert 'id="profile-export"' not in page and 'id="profile-erase"' not in page
    assert sales_client.get(f"/profiles/{profile.id}/export.json").status_code == 403
    token = csrf_token_from(sales_client.get(f"/profiles/{profile.id}"))
    assert sales_client.post(f"/profiles/{profile.id}/erase", data={"csrf_token": token}).status_code == 403
    assert not _gone(session, profile.id)

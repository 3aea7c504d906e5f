"""The templates API: any key reads templates; previewing, changing and resetting one (each renders
template text) needs an admin's key; a template whose render goes past a limit is refused with the
part, the line and the limit at save time (for the preview profile too) and at preview."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.accounts import users
from crm_segments.config import TemplateLimits
from crm_segments.models import MessageTemplate
from crm_segments.templates import render_pool
from crm_segments.templates.template_store import shipped_templates
from tests.factories import AdminFactory, ProfileFactory

from .conftest import Api

pytestmark = pytest.mark.usefixtures("backend")
KEY = "transactional/owner_alert"
SHORT = TemplateLimits(time_limit=0.5)
NESTED = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
SPIN = ("Hello {{ profile.first_name }}\n"
        "{% if profile.company == 'Spin Co' %}" + NESTED + "{% endif %}")
TOO_SLOW = "rendering took longer than the limit of 0.5 s"


@pytest.fixture
def admin_api(client: FlaskClient, session: Session) -> Api:
    admin = AdminFactory()
    return Api(client, users.create_api_key(session=session, email=admin.email, name="admin key")[1])


@pytest.fixture
def short_limits(app: Flask) -> Iterator[TemplateLimits]:
    before = render_pool.current_limits()
    render_pool.configure(SHORT)
    yield SHORT
    render_pool.configure(before)


def _fields(answer: Any) -> dict[str, str]:
    return {f["field"]: f["message"] for f in answer.json["error"]["fields"]}


def test_a_sales_key_reads_templates_and_cannot_preview_change_or_reset_them(
        sales_api: Api, session: Session) -> None:
    bea = ProfileFactory(first_name="Bea")
    assert sales_api.get("/templates").status_code == 200
    one = sales_api.get(f"/templates/{KEY}")
    assert one.status_code == 200 and one.json["text_body"] == shipped_templates()[KEY].text_body
    started = render_pool.pool().busy
    preview = f"/templates/{KEY}/preview"
    for answer in (sales_api.post(preview, json={"profile_id": bea.id, "text_body": NESTED}),
                   sales_api.post(preview, json={"profile_id": bea.id}),
                   sales_api.put(f"/templates/{KEY}", json={"subject": "x", "text_body": "y"}),
                   sales_api.post(f"/templates/{KEY}/reset")):
        assert answer.status_code == 403 and answer.json["error"]["code"] == "forbidden"
    assert "needs the API key of an admin" in answer.json["error"]["message"]
    assert render_pool.pool().busy == started
    assert session.scalars(select(MessageTemplate)).first() is None


@pytest.mark.usefixtures("short_limits")
def test_save_is_refused_when_the_preview_profile_trips_a_limit(admin_api: Api, session: Session) -> None:
    sol = ProfileFactory(first_name="Sol", last_name="Reyes", company="Spin Co")
    refused = admin_api.put(f"/templates/{KEY}", json={"subject": "Hi", "text_body": SPIN})
    assert refused.status_code == 422
    assert _fields(refused) == {"text_body": f"line 2: {TOO_SLOW} (rendered for {sol.full_name}, the preview "
                                             "profile)"}
    sample = admin_api.put(f"/templates/{KEY}", json={"subject": "Hi", "text_body": NESTED})
    assert sample.status_code == 422 and _fields(sample) == {"text_body": f"line 1: {TOO_SLOW}"}
    assert session.scalars(select(MessageTemplate)).first() is None

    ProfileFactory(first_name="Ann", company="Acme")  # the preview profile now: nothing trips
    saved = admin_api.put(f"/templates/{KEY}", json={"subject": "Hi", "text_body": SPIN})
    assert saved.status_code == 200 and saved.json["text_body"] == SPIN
    stopped = admin_api.post(f"/templates/{KEY}/preview", json={"profile_id": sol.id})
    assert stopped.status_code == 422 and _fields(stopped) == {"text_body": f"line 2: {TOO_SLOW}"}


def test_a_preview_past_the_output_limits_is_refused(admin_api: Api) -> None:
    bea = ProfileFactory(first_name="Bea")
    email = {"profile_id": bea.id, "subject": "Hi",
             "text_body": "{% for i in range(11000) %}{{ 'x' * 100 }}{% endfor %}"}
    too_long = admin_api.post(f"/templates/{KEY}/preview", json=email)
    assert too_long.status_code == 422
    assert _fields(too_long) == {"text_body": "line 1: the email is longer than 1,048,576 bytes, the limit "
                                              "for its subject, HTML and text together"}
    sms = admin_api.post("/templates/sales/quote_reminder/preview",
                         json={"profile_id": bea.id, "text_body": "{% for i in range(1601) %}x{% endfor %}"})
    assert sms.status_code == 422
    assert _fields(sms) == {"text_body": "line 1: longer than 1600 characters; an SMS may have at most 1600"}
    fits = admin_api.post("/templates/sales/quote_reminder/preview",
                          json={"profile_id": bea.id, "text_body": "{{ 'x' * 1600 }}"})
    assert fits.status_code == 200 and fits.json["text"] == "x" * 1600

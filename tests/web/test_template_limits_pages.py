"""The template editor refuses a template whose render goes past a limit (time, output size) with the
part, the line and the limit: at save time when the preview profile trips it, at preview and at test
send. Nothing is saved or queued."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.config import TemplateLimits
from crm_segments.models import Message, MessageTemplate
from crm_segments.templates import render_pool
from crm_segments.templates.template_store import template_state
from tests.factories import ProfileFactory

from .conftest import csrf_token_from

pytestmark = pytest.mark.usefixtures("backend")
KEY = "transactional/owner_alert"
URL = f"/templates/{KEY}"
SHORT = TemplateLimits(time_limit=0.5)
NESTED = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
SPIN = ("Hello {{ profile.first_name }}\n"
        "{% if profile.company == 'Spin Co' %}" + NESTED + "{% endif %}")
TOO_SLOW = "rendering took longer than the limit of 0.5 s"


@pytest.fixture
def short_limits(app: Flask) -> Iterator[TemplateLimits]:
    """A 0.5 s time limit for this test's renders (set after the app, whose set-up sets the limits)."""
    before = render_pool.current_limits()
    render_pool.configure(SHORT)
    yield SHORT
    render_pool.configure(before)


def _post(client: FlaskClient, action: str, url: str = URL, **fields: str) -> tuple[int, dict[str, str]]:
    """Post the editor's form; the status and the errors the page shows, by field."""
    token = csrf_token_from(client.get(url))
    answer = client.post(url, data={"csrf_token": token, "action": action, **fields})
    page = answer.get_data(as_text=True)
    if 'id="template-errors"' not in page:
        return answer.status_code, {}
    block = page.split('id="template-errors"')[1].split("</div>")[0]
    found = re.findall(r"<li><strong>(\w+)</strong>: (.*?)</li>", block, re.S)
    return answer.status_code, {field: html.unescape(message) for field, message in found}


@pytest.mark.usefixtures("short_limits")
def test_save_is_refused_when_the_preview_profile_trips_a_limit(admin_client: FlaskClient,
                                                                 session: Session) -> None:
    sol = ProfileFactory(first_name="Sol", last_name="Reyes", company="Spin Co")  # the latest: previewed
    status, errors = _post(admin_client, "save", subject="Hi", text_body=SPIN)
    assert status == 400
    assert errors == {"text_body": f"line 2: {TOO_SLOW} (rendered for {sol.full_name}, the preview profile)"}
    assert session.scalars(select(MessageTemplate)).first() is None

    ProfileFactory(first_name="Ann", company="Acme")  # now the preview profile: nothing trips
    assert _post(admin_client, "save", subject="Hi", text_body=SPIN) == (302, {})
    session.expire_all()
    assert template_state(session, KEY).source.text_body == SPIN


@pytest.mark.usefixtures("short_limits")
def test_preview_and_test_send_stop_at_the_limit_and_queue_nothing(admin_client: FlaskClient,
                                                                   session: Session) -> None:
    sol = ProfileFactory(first_name="Sol", company="Spin Co")
    ProfileFactory(first_name="Ann", company="Acme")
    assert _post(admin_client, "save", subject="Hi", text_body=SPIN) == (302, {})

    assert _post(admin_client, "preview", subject="Hi", text_body=SPIN, profile=str(sol.id)) == (
        400, {"text_body": f"line 2: {TOO_SLOW}"})
    assert _post(admin_client, "preview", subject="Hi", text_body=NESTED) == (
        400, {"text_body": f"line 1: {TOO_SLOW}"})
    shows_a_quote = "{% if quote is defined %}{{ quote.number }}{% endif %}" + NESTED  # nobody has one
    assert _post(admin_client, "preview", subject="Hi", text_body=shows_a_quote) == (
        400, {"text_body": f"line 1: {TOO_SLOW}"})
    assert _post(admin_client, "test_send", profile=str(sol.id)) == (
        400, {"text_body": f"line 2: {TOO_SLOW}"})
    assert session.scalars(select(Message)).first() is None
    shown = _post(admin_client, "preview", subject="Hi", text_body=SPIN)  # Ann: renders
    assert shown == (200, {})


def test_a_preview_longer_than_a_message_may_be_is_refused(admin_client: FlaskClient) -> None:
    ProfileFactory(first_name="Ann")
    email = "{% for i in range(11000) %}{{ 'x' * 100 }}{% endfor %}"  # 1.1 MB
    assert _post(admin_client, "preview", subject="Hi", text_body=email) == (
        400, {"text_body": "line 1: the email is longer than 1,048,576 bytes, the limit for its subject, "
                           "HTML and text together"})
    fits = email.replace("range(11000)", "range(10000)")  # 1,000,000 bytes and the subject's 2
    assert _post(admin_client, "preview", subject="Hi", text_body=fits) == (200, {})
    sms_url = "/templates/sales/quote_reminder"
    assert _post(admin_client, "preview", sms_url, text_body="Reply STOP {{ 'x' * 1600 }}") == (
        400, {"text_body": "line 1: longer than 1600 characters; an SMS may have at most 1600"})
    assert _post(admin_client, "preview", sms_url, text_body="Reply STOP {{ 'x' * 1589 }}") == (200, {})

"""Marketing templates must say how to opt out: an email shows the unsubscribe link (text and HTML
parts), an SMS names an opt-out keyword; transactional templates need neither. Refused at save time
in the store, the editor and the API, naming the field; the shipped templates all pass."""

from __future__ import annotations

import html
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.accounts import users
from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import MessageTemplate
from crm_segments.templates.template_store import check_parts, shipped_templates
from crm_segments.workflows.editing import create_workflow
from crm_segments.workflows.template_saving import save_template
from tests.factories import AdminFactory, TagFactory

pytestmark = pytest.mark.usefixtures("backend")
LINK = "{{ unsubscribe_url }}"


def _refusal(session: Session, **template: str) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        save_template(session, **template)  # type: ignore[arg-type]
    assert session.scalars(select(MessageTemplate)).all() == []
    return {e.field: e.message for e in caught.value.errors}


def test_every_shipped_template_passes() -> None:
    for key, source in shipped_templates().items():
        assert check_parts(source) == [], key


def test_a_marketing_email_without_the_link_is_refused_naming_the_part(session: Session) -> None:
    fields = _refusal(session, key="sales/spring", channel="email", subject="Spring",
                      text_body="Hi {{ profile.first_name }}", html_body="<p>Hi</p>")
    assert set(fields) == {"text_body", "html_body"} and LINK in fields["text_body"]
    only_text = _refusal(session, key="sales/spring", channel="email", subject="Spring",
                         text_body=f"Hi. Unsubscribe: {LINK}", html_body="<p>Hi</p>")
    assert list(only_text) == ["html_body"]
    # A link that only an untaken branch shows is no link.
    hidden = _refusal(session, key="marketing/hidden", channel="email", subject="Offer",
                      text_body=f"Offer{{% if profile.first_name == 'Nobody' %}} {LINK}{{% endif %}}")
    assert list(hidden) == ["text_body"]
    saved = save_template(session, key="sales/spring", channel="email", subject="Spring",
                          text_body=f"Hi. Unsubscribe: {LINK}",
                          html_body=f'<p>Hi</p><a href="{LINK}">Unsubscribe</a>')
    assert saved.content_type == "sales"


def test_a_transactional_email_needs_no_link(session: Session) -> None:
    saved = save_template(session, key="transactional/receipt", channel="email", subject="Your receipt",
                          text_body="Thank you, {{ profile.first_name }}.")
    assert saved.content_type == "transactional"


def test_a_marketing_sms_must_name_an_opt_out_keyword(session: Session) -> None:
    fields = _refusal(session, key="marketing/flash", channel="sms",
                      text_body="Sale today! Stop by the shop.")
    assert list(fields) == ["text_body"] and "STOP" in fields["text_body"]
    for wording in ("Sale today! Reply STOP to opt out.", "Sale today. Txt QUIT to end", "Sale! STOP=stop"):
        save_template(session, key="marketing/flash", channel="sms", text_body=wording)
    save_template(session, key="transactional/code", channel="sms", text_body="Your code is 1234")


def test_the_editor_refuses_and_names_the_field(admin_client: FlaskClient, session: Session) -> None:
    url = "/templates/marketing/win_back_reminder"
    page = admin_client.get(url).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = admin_client.post(url, data={"csrf_token": token, "action": "save",
                                            "text_body": "We miss you! Book now."})
    assert response.status_code == 400
    shown = html.unescape(response.get_data(as_text=True))
    assert "text_body" in shown and "a marketing SMS must say how to opt out" in shown
    assert session.scalars(select(MessageTemplate)).all() == []


def test_the_api_refuses_and_names_the_field(client: FlaskClient, session: Session) -> None:
    secret = users.create_api_key(session=session, email=AdminFactory().email, name="admin")[1]
    refused = client.put("/api/v1/templates/evergreen/welcome", headers={"Authorization": f"Bearer {secret}"},
                         json={"subject": "Hello", "text_body": "Hello!",
                               "html_body": f'<a href="{LINK}">x</a>'})
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json["error"]["fields"]] == ["text_body"]
    assert session.scalars(select(MessageTemplate)).all() == []


def test_a_marketing_step_cannot_send_a_transactional_template(session: Session) -> None:
    TagFactory(name="vip")
    trigger = {"type": "tag_added", "tag": "vip"}
    alert = {"key": "mail", "type": "send_email", "template": "transactional/owner_alert"}
    with pytest.raises(ValidationFailed) as caught:
        create_workflow(session=session, data={"name": "Promo", "trigger": trigger, "steps": [alert]})
    [error] = caught.value.errors
    assert error.field == "steps[0].template" and "is transactional, with no way to opt out" in error.message
    steps = [{"key": "text", "type": "send_sms", "template": "marketing/win_back_reminder"},
             {**alert, "category": "transactional"}]
    saved = create_workflow(session=session, data={"name": "Ok", "trigger": trigger, "steps": steps})
    assert saved.name == "Ok"

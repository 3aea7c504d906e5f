"""A workflow's templates must render with what its trigger gives them, checked when the workflow is
saved (service, editor, API, YAML import) and when a template that workflows send is saved."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.accounts import users
from crm_segments.db import utcnow
from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import MessageTemplate, Workflow
from crm_segments.templates.template_store import get_template
from crm_segments.workflows.editing import create_workflow
from crm_segments.workflows.files import import_yaml
from crm_segments.workflows.lifecycle import set_status
from crm_segments.workflows.template_saving import save_template
from tests.factories import TagFactory, UserFactory
from tests.signed_in import csrf_token_from

from .helpers import make_segment

pytestmark = pytest.mark.usefixtures("backend")

QUOTE_TEMPLATE = "sales/quote_follow_up"  # reads quote.number, quote.lines...


def _workflow(trigger: dict[str, Any], template: str = QUOTE_TEMPLATE, *, name: str = "Chase",
              step_type: str = "send_email") -> dict[str, Any]:
    return {"name": name, "trigger": trigger,
            "steps": [{"key": "first", "type": "add_tag", "tag": "chased"},
                      {"key": "mail", "type": step_type, "template": template}]}


def _refusal(session: Session, data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as refused:
        create_workflow(session=session, data=data)
    return {e.field: e.message for e in refused.value.errors}


def _workflows(session: Session) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(Workflow.name)))


def test_a_tag_triggered_workflow_cannot_send_a_template_that_needs_a_quote(session: Session) -> None:
    TagFactory(name="hot lead")
    errors = _refusal(session, _workflow({"type": "tag_added", "tag": "hot lead"}))
    assert list(errors) == ["steps[1].template"]
    assert "a tag added to a profile gives the profile only" in errors["steps[1].template"]
    assert "'quote' is undefined" in errors["steps[1].template"]
    assert _workflows(session) == []


@pytest.mark.parametrize("trigger", [
    {"type": "tag_added", "tag": "hot lead", "entity": "quote"},
    {"type": "date_field", "record": "quote", "field": "expires_at", "offset_days": -3},
    {"type": "segment_entered", "segment": "Quoted", "record": {"type": "quote", "statuses": ["sent"]}},
])
def test_triggers_that_give_a_quote_may_send_it(session: Session, trigger: dict[str, Any]) -> None:
    TagFactory(name="hot lead")
    make_segment(session, name="Quoted")
    assert create_workflow(session=session, data=_workflow(trigger)).name == "Chase"


def test_the_record_must_be_of_the_right_type(session: Session) -> None:
    job_date = {"type": "date_field", "record": "job", "field": "finished_at"}
    errors = _refusal(session, _workflow(job_date))
    assert "a job date trigger gives the profile and its job" in errors["steps[1].template"]
    assert "'quote' is undefined" in errors["steps[1].template"]
    save_template(session, key="custom/job_note", channel="email", content_type="transactional",
                  subject="About record {{ record.id }}", text_body="Quote {{ record.number }}")
    errors = _refusal(session, _workflow(job_date, "custom/job_note", name="Note"))
    assert "record.number is undefined" in errors["steps[1].template"]


def test_a_template_that_checks_for_the_record_fits_every_trigger(session: Session) -> None:
    make_segment(session, name="Quoted")
    # transactional/owner_alert reads the quote only inside "{% if quote is defined %}".
    data = _workflow({"type": "segment_entered", "segment": "Quoted"}, "transactional/owner_alert",
                     step_type="notify_owner")
    assert create_workflow(session=session, data=data).steps[1]["template"] == "transactional/owner_alert"


def test_a_yaml_import_is_refused_with_the_step_and_the_variable(session: Session) -> None:
    make_segment(session, name="Quoted")
    text = yaml.safe_dump(_workflow({"type": "segment_entered", "segment": "Quoted"}, "sales/quote_reminder",
                                    step_type="send_sms"))
    with pytest.raises(ValidationFailed) as refused:
        import_yaml(session=session, text=text, source="chase.yaml")
    [error] = refused.value.errors
    assert error.field == "chase.yaml: steps[1].template" and "'quote' is undefined" in error.message
    assert _workflows(session) == []


def test_the_api_refuses_it_with_422(client: FlaskClient, session: Session) -> None:
    TagFactory(name="hot lead")
    key = users.create_api_key(session=session, email=UserFactory(role="admin").email, name="admin")[1]
    refused = client.post("/api/v1/workflows", json=_workflow({"type": "tag_added", "tag": "hot lead"}),
                          headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 422
    [field] = refused.get_json()["error"]["fields"]
    assert field["field"] == "steps[1].template" and "'quote' is undefined" in field["message"]
    assert _workflows(session) == []


def test_the_workflow_editor_refuses_it(admin_client: FlaskClient, session: Session) -> None:
    TagFactory(name="hot lead")
    from tests.web.test_workflow_pages import _form

    page = admin_client.get("/workflows/new")
    form = _form(page.get_data(as_text=True))
    form.update({"name": "Chase", "trigger_type": "tag_added", "trigger_tag": "hot lead",
                 "trigger_entity": "profile", "steps-0-template": QUOTE_TEMPLATE, "action": "save"})
    refused = admin_client.post("/workflows/new", data=form)
    text = html.unescape(refused.get_data(as_text=True))
    assert refused.status_code == 400
    assert "Step 1 (Send email): template" in text and "'quote' is undefined" in text
    assert _workflows(session) == []


def _profile_workflow(session: Session, *, name: str = "Welcome tagged") -> Workflow:
    TagFactory(name="new")
    return create_workflow(session=session, data=_workflow({"type": "tag_added", "tag": "new"},
                                                           "evergreen/welcome", name=name))


def test_a_template_edit_that_its_workflows_cannot_give_is_refused_naming_them(session: Session) -> None:
    _profile_workflow(session)
    welcome = get_template(session, "evergreen/welcome")
    assert welcome is not None
    with pytest.raises(ValidationFailed) as refused:
        save_template(session, key=welcome.key, subject=welcome.subject,
                      text_body=welcome.text_body + "\nYour quote {{ quote.number }}")
    [error] = refused.value.errors
    assert error.field == "text_body" and "workflow 'Welcome tagged'" in error.message
    assert "'quote' is undefined" in error.message and "steps[1].template" in error.message
    assert session.scalars(select(MessageTemplate).where(MessageTemplate.key == welcome.key)).all() == []


def test_an_archived_workflow_does_not_hold_a_template_back(session: Session) -> None:
    workflow = _profile_workflow(session)
    set_status(session=session, workflow_id=workflow.id, status="archived", now=utcnow())
    welcome = get_template(session, "evergreen/welcome")
    assert welcome is not None
    row = save_template(session, key=welcome.key, subject=welcome.subject,
                        text_body=welcome.text_body + "{{ quote.number }}")
    assert row.text_body.endswith("{{ quote.number }}")


def test_the_template_editor_and_api_refuse_it(admin_client: FlaskClient, session: Session) -> None:
    _profile_workflow(session)
    url = "/templates/evergreen/welcome"
    page = admin_client.get(url).get_data(as_text=True)
    fields = {name: html.unescape(body)
              for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S)}
    fields["subject"] = "Welcome, quote {{ quote.number }}"
    refused = admin_client.post(url, data={**fields, "csrf_token": csrf_token_from(admin_client.get(url)),
                                           "action": "save"})
    text = html.unescape(refused.get_data(as_text=True))
    assert refused.status_code == 400
    assert "workflow 'Welcome tagged'" in text and "'quote' is undefined" in text

    key = users.create_api_key(session=session, email=UserFactory(role="admin").email, name="admin")[1]
    welcome = get_template(session, "evergreen/welcome")
    assert welcome is not None
    api = admin_client.put("/api/v1/templates/evergreen/welcome", headers={"Authorization": f"Bearer {key}"},
                           json={"subject": "Quote {{ quote.number }}", "text_body": welcome.text_body,
                                 "html_body": welcome.html_body})
    assert api.status_code == 422
    [field] = api.get_json()["error"]["fields"]
    assert field["field"] == "subject" and "workflow 'Welcome tagged'" in field["message"]
    saved = session.scalars(select(MessageTemplate).where(MessageTemplate.key == "evergreen/welcome"))
    assert saved.all() == []

"""A message template a workflow step sends is never deleted silently: the delete page lists the
workflows, and deleting anyway pauses them with the reason shown on their page."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import MessageTemplate, User, Workflow
from crm_segments.segments.deletion import InUse
from crm_segments.segments.usages import template_users
from crm_segments.templates.template_store import delete_template
from tests.signed_in import csrf_token_from

from .helpers import EMAIL_TEMPLATE, active_workflow, definition, make_segment

pytestmark = pytest.mark.usefixtures("backend")
CUSTOM = "sales/spring_offer"


def _custom_template(session: Session) -> MessageTemplate:
    row = MessageTemplate(key=CUSTOM, channel="email", content_type="sales", name="Spring offer",
                          subject="Spring", text_body="Hello {{ profile.first_name }}")
    session.add(row)
    session.flush()
    return row


def _sending(session: Session) -> Workflow:
    return active_workflow(session, definition(make_segment(session), name="Spring campaign", steps=[
        {"key": "offer", "type": "send_email", "template": CUSTOM}]))


def _template_exists(session: Session) -> bool:
    session.expire_all()
    return session.scalar(select(MessageTemplate.id).where(MessageTemplate.key == CUSTOM)) is not None


def test_a_template_a_step_sends_is_refused_then_detached(session: Session) -> None:
    _custom_template(session)
    workflow = _sending(session)
    assert [(u.id, u.where) for u in template_users(session, CUSTOM)] == [(workflow.id, "steps[0].template")]

    with pytest.raises(InUse, match="template 'sales/spring_offer' is used by workflow 'Spring campaign'"):
        delete_template(session, CUSTOM)
    assert _template_exists(session) and workflow.status == "active"

    assert delete_template(session, CUSTOM, on_use="detach") == [workflow]
    assert not _template_exists(session)
    assert workflow.status == "paused" and workflow.paused_reason.startswith(
        "template 'sales/spring_offer' was deleted at ")


def test_a_shipped_template_is_reset_not_deleted(session: Session) -> None:
    with pytest.raises(ValidationFailed, match="is a shipped template: reset it instead"):
        delete_template(session, EMAIL_TEMPLATE, on_use="detach")


def test_delete_page_lists_the_workflows_and_detaching_shows_the_reason(
        admin_client: FlaskClient, admin_user: User, session: Session) -> None:
    _custom_template(session)
    workflow = _sending(session)
    url = f"/templates/{CUSTOM}/delete"

    page = admin_client.get(url)

    assert page.status_code == 200
    assert f'href="/workflows/{workflow.id}">Spring campaign</a>' in page.get_data(as_text=True)
    token = csrf_token_from(page)
    assert admin_client.post(url, data={"csrf_token": token}).status_code == 409
    assert _template_exists(session)
    assert admin_client.get(f"/templates/{EMAIL_TEMPLATE}/delete").status_code == 404

    done = admin_client.post(url, data={"csrf_token": token, "on_use": "detach"})

    assert done.status_code == 302 and not _template_exists(session)
    shown = admin_client.get(f"/workflows/{workflow.id}").get_data(as_text=True)
    reason = (r"Paused because template &#39;sales/spring_offer&#39; was deleted "
              r"at [\d-]+ [\d:]+ UTC by Ada Admin")
    assert re.search(reason, shown)

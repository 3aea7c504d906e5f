"""Workflow pages: admins create, edit and turn workflows on; sales people look; forms keep keys."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import yaml
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.models import Workflow
from crm_segments.workflows.editing import create_workflow
from tests.factories import ProfileFactory
from tests.workflows.helpers import EMAIL_TEMPLATE, T0, definition, enter, make_segment

from .conftest import csrf_token_from

pytestmark = pytest.mark.usefixtures("backend")


def _form(html: str) -> dict[str, str]:
    """The editor's fields as a browser would submit them (text inputs, selected options, checked boxes)."""
    fields: dict[str, str] = {}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html):
        fields.setdefault(name, value)
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        selected = re.search(r'<option value="([^"]*)"[^>]*selected', body) or re.search(
            r'<option value="([^"]*)"', body)
        fields[name] = selected.group(1) if selected else ""
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S):
        fields[name] = body
    for tag in re.findall(r'<input[^>]*type="(?:checkbox|radio)"[^>]*>', html):
        name = re.search(r'name="([^"]+)"', tag)
        if name and "checked" not in tag:
            fields.pop(name.group(1), None)
    return fields


def test_admin_creates_a_workflow_step_by_step(admin_client: FlaskClient, session: Session) -> None:
    make_segment(session, name="Quoted")
    page = admin_client.get("/workflows/new")
    assert page.status_code == 200
    form = _form(page.get_data(as_text=True))
    form.update({"name": "Chase quotes", "trigger_type": "segment_entered", "trigger_segment": "Quoted",
                 "steps-0-template": EMAIL_TEMPLATE, "action": "add:wait"})
    with_wait = admin_client.post("/workflows/new", data=form)
    assert with_wait.status_code == 200 and 'name="steps-1-days"' in with_wait.get_data(as_text=True)

    form = _form(with_wait.get_data(as_text=True))
    form.update({"steps-1-days": "3", "action": "save", "reentry_policy": "once_per_days",
                 "reentry_days": "30", "goal_since": '{"field": "created_at", "record": "job"}'})
    saved = admin_client.post("/workflows/new", data=form)
    assert saved.status_code == 302, saved.get_data(as_text=True)
    workflow = session.scalars(select(Workflow).where(Workflow.name == "Chase quotes")).one()
    assert [s["type"] for s in workflow.steps] == ["send_email", "wait"]
    assert (workflow.reentry_policy, workflow.reentry_days) == ("once_per_days", 30)
    assert workflow.goal == {"since_enrollment": [{"record": "job", "field": "created_at",
                                                   "same_record": False}]}
    edit = admin_client.get(f"/workflows/{workflow.id}/edit").get_data(as_text=True)
    assert re.search(r'value="[^"]*job[^"]*" checked> A job is created', edit)
    assert workflow.status == "draft"


def test_a_step_is_added_between_two_cards_and_the_yaml_has_it_there(admin_client: FlaskClient,
                                                                      session: Session) -> None:
    segment = make_segment(session)
    workflow = create_workflow(session=session, data=definition(segment))
    page = admin_client.get(f"/workflows/{workflow.id}/edit").get_data(as_text=True)
    assert "Add a step here, after step 1" in page and 'value="add:add_tag:0"' in page

    added = admin_client.post(f"/workflows/{workflow.id}/edit",
                              data={**_form(page), "action": "add:add_tag:0"})
    shown = added.get_data(as_text=True)
    assert 'id="steps-1-label" name="steps-1-label" value="" maxlength="120" autofocus' in shown
    form = _form(shown)
    assert (form["steps-0-key"], form["steps-2-key"]) == ("tag_one", "pause")
    form.update({"steps-1-tag": "inserted", "action": "save"})
    saved = admin_client.post(f"/workflows/{workflow.id}/edit", data=form)
    assert saved.status_code == 302, saved.get_data(as_text=True)

    download = admin_client.get(f"/workflows/{workflow.id}/yaml?download=1")
    exported = yaml.safe_load(download.get_data(as_text=True))
    assert [(s["type"], s.get("tag")) for s in exported["steps"]] == [
        ("add_tag", "followed up"), ("add_tag", "inserted"), ("wait", None), ("add_tag", "reminded")]


def test_editing_keeps_step_keys_and_errors_name_the_step(admin_client: FlaskClient,
                                                          session: Session) -> None:
    segment = make_segment(session)
    workflow = create_workflow(session=session, data=definition(segment))
    page = admin_client.get(f"/workflows/{workflow.id}/edit")
    form = _form(page.get_data(as_text=True))
    assert form["steps-0-key"] == "tag_one"

    moved = admin_client.post(f"/workflows/{workflow.id}/edit", data={**form, "action": "down:0"})
    form = _form(moved.get_data(as_text=True))
    assert (form["steps-0-key"], form["steps-1-key"]) == ("pause", "tag_one")
    focused = 'id="steps-1-down" class="btn btn-small" data-move="down" autofocus'
    assert focused in moved.get_data(as_text=True)  # the moved step's button keeps the focus

    # Two mistakes in two cards: both are reported, each naming its step and field.
    refused = admin_client.post(f"/workflows/{workflow.id}/edit",
                                data={**form, "steps-1-tag": "", "steps-0-days": "soon"})
    assert refused.status_code == 400
    body = refused.get_data(as_text=True)
    assert "Nothing was saved: 2 problems." in body
    assert "<strong>Step 1 (Wait): days</strong>: must be a whole number" in body
    assert "<strong>Step 2 (Add tag): tag</strong>" in body

    saved = admin_client.post(f"/workflows/{workflow.id}/edit", data={**form, "action": "save"})
    assert saved.status_code == 302
    session.refresh(workflow)
    assert [s["key"] for s in workflow.steps] == ["pause", "tag_one", "tag_two"]
    assert workflow.version == 2


def test_turn_on_dry_run_and_enrollments(admin_client: FlaskClient, session: Session) -> None:
    segment = make_segment(session)
    workflow = create_workflow(session=session, data=definition(segment))
    enter(session, segment, ProfileFactory(first_name="Dora", last_name="Dry"), at=T0)
    detail = admin_client.get(f"/workflows/{workflow.id}")
    assert detail.status_code == 200
    dry = admin_client.get(f"/workflows/{workflow.id}/dry-run")
    assert "Dora Dry" in dry.get_data(as_text=True)

    token = csrf_token_from(detail)
    turned_on = admin_client.post(f"/workflows/{workflow.id}/status",
                                  data={"status": "active", "csrf_token": token})
    assert turned_on.status_code == 302
    session.refresh(workflow)
    assert workflow.status == "active"
    assert admin_client.post(f"/workflows/{workflow.id}/status", data={"status": "active"}).status_code == 400
    assert admin_client.get(f"/workflows/{workflow.id}/enrollments").status_code == 200
    assert admin_client.get("/workflows/results").status_code == 200
    assert "Follow-up" in admin_client.get("/workflows").get_data(as_text=True)


def test_yaml_editor(admin_client: FlaskClient, session: Session) -> None:
    segment = make_segment(session)
    workflow = create_workflow(session=session, data=definition(segment))
    page = admin_client.get(f"/workflows/{workflow.id}/yaml")
    found = re.search(r"<textarea[^>]*>(.*?)</textarea>", page.get_data(as_text=True), re.S)
    assert found
    text = html.unescape(found.group(1)).replace("days: 2", "days: 4")
    saved = admin_client.post(f"/workflows/{workflow.id}/yaml", data={"text": text,
                                                                      "csrf_token": csrf_token_from(page)})
    assert saved.status_code == 302
    session.refresh(workflow)
    assert workflow.steps[1]["duration"]["days"] == 4
    bad = admin_client.post(f"/workflows/{workflow.id}/yaml",
                            data={"text": "steps: [", "csrf_token": csrf_token_from(page)})
    assert bad.status_code == 400 and "not valid YAML" in bad.get_data(as_text=True)
    download = admin_client.get(f"/workflows/{workflow.id}/yaml?download=1")
    assert download.headers["Content-Disposition"].startswith("attachment")


def test_sales_people_view_but_do_not_edit(sales_client: FlaskClient, session: Session) -> None:
    segment = make_segment(session)
    workflow = create_workflow(session=session, data=definition(segment))
    assert sales_client.get("/workflows").status_code == 200
    page = sales_client.get(f"/workflows/{workflow.id}")
    assert page.status_code == 200 and "Turn on" not in page.get_data(as_text=True)
    assert sales_client.get(f"/workflows/{workflow.id}/dry-run").status_code == 200
    assert sales_client.get(f"/workflows/{workflow.id}/edit").status_code == 403
    assert sales_client.get("/workflows/new").status_code == 403
    token = csrf_token_from(page)
    assert sales_client.post(f"/workflows/{workflow.id}/status",
                             data={"status": "active", "csrf_token": token}).status_code == 403
    assert sales_client.post(f"/workflows/{workflow.id}/yaml",
                             data={"text": "x", "csrf_token": token}).status_code == 403


def test_profile_page_lists_the_profiles_enrollments(sales_client: FlaskClient, session: Session) -> None:
    from crm_segments.workflows.lifecycle import set_status
    from crm_segments.workflows.triggers import enroll_from_events

    segment = make_segment(session)
    workflow = create_workflow(session=session, data=definition(segment, name="Chase quotes"))
    set_status(session=session, workflow_id=workflow.id, status="active", now=T0)
    enrolled, bystander = ProfileFactory(), ProfileFactory()
    enter(session, segment, enrolled, at=T0 + dt.timedelta(minutes=1))  # entries after it was turned on
    assert enroll_from_events(session, now=T0 + dt.timedelta(minutes=2)) == 1
    session.flush()

    page = sales_client.get(f"/profiles/{enrolled.id}").get_data(as_text=True)
    assert 'id="workflows"' in page and "Chase quotes" in page
    assert re.search(r'href="/workflows/enrollments/\d+">Chase quotes</a>', page)
    other = sales_client.get(f"/profiles/{bystander.id}").get_data(as_text=True)
    assert "Not enrolled in any workflow." in other and "Chase quotes" not in other


def test_enrollment_step_log_links_the_queued_message(sales_client: FlaskClient, session: Session) -> None:
    from crm_segments.models import Enrollment, Message
    from crm_segments.workflows.engine import advance_batch
    from crm_segments.workflows.lifecycle import set_status
    from crm_segments.workflows.triggers import enroll_from_events

    segment = make_segment(session)
    steps = [{"key": "hello", "type": "send_email", "template": EMAIL_TEMPLATE}]
    workflow = create_workflow(session=session, data=definition(segment, steps=steps))
    set_status(session=session, workflow_id=workflow.id, status="active", now=T0)
    enter(session, segment, ProfileFactory(email="dora@example.com", email_consent=True),
          at=T0 + dt.timedelta(minutes=1))
    assert enroll_from_events(session, now=T0 + dt.timedelta(minutes=2)) == 1
    advance_batch(session, now=T0 + dt.timedelta(minutes=3))
    session.flush()
    enrollment = session.scalars(select(Enrollment)).one()
    message = session.scalars(select(Message)).one()

    page = sales_client.get(f"/workflows/enrollments/{enrollment.id}").get_data(as_text=True)
    assert f'href="/messages/{message.id}">#{message.id}</a>' in page


def test_segment_page_shows_the_workflows_it_triggers_with_results(sales_client: FlaskClient,
                                                                   session: Session) -> None:
    from crm_segments.workflows.lifecycle import set_status
    from crm_segments.workflows.triggers import enroll_from_events

    segment = make_segment(session)
    other = make_segment(session, name="Elsewhere")
    workflow = create_workflow(session=session, data=definition(segment, name="Chase quotes"))
    create_workflow(session=session, data=definition(other, name="Unrelated"))
    set_status(session=session, workflow_id=workflow.id, status="active", now=T0)
    enter(session, segment, ProfileFactory(), ProfileFactory(), at=T0 + dt.timedelta(minutes=1))
    assert enroll_from_events(session, now=T0 + dt.timedelta(minutes=2)) == 2
    session.flush()

    page = sales_client.get(f"/segments/{segment.id}").get_data(as_text=True)
    assert 'id="workflows"' in page and "Chase quotes" in page and "Unrelated" not in page
    assert re.search(r'data-metric="enrolled">2\b', page)
    assert 'id="workflows"' not in sales_client.get(f"/segments/{make_segment(session, name='Lone').id}") \
        .get_data(as_text=True)


def test_a_branch_card_shows_its_condition_in_words_and_its_paths(admin_client: FlaskClient,
                                                                   session: Session) -> None:
    segment = make_segment(session)
    steps = [{"key": "where", "type": "branch", "rule": {"field": "region", "op": "eq", "value": "North"},
              "if_true": "next", "if_false": "tag_two"},
             {"key": "tag_one", "type": "add_tag", "tag": "north"},
             {"key": "tag_two", "type": "add_tag", "tag": "elsewhere", "label": "Tag the rest"}]
    workflow = create_workflow(session=session, data=definition(segment, steps=steps))
    page = html.unescape(admin_client.get(f"/workflows/{workflow.id}/edit").get_data(as_text=True))
    condition = re.search(r'<p class="branch-condition">([^<]*)</p>', page)
    assert condition and "region" in condition[1].lower() and "North" in condition[1]
    assert '<option value="tag_two" selected>step 3: Tag the rest</option>' in page
    assert ">tag_two<" not in page  # the step's key is never shown as text

# ruff: noqa: F811  (pytest fixtures imported from tests/web/conftest.py are redefined as arguments)
"""Segment screens: list, page, editor and preview, export, static lists, overlap, cohorts, explain;
sales people view and export, only admins change."""

from __future__ import annotations

import io
import json

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import Segment, SegmentMember
from crm_segments.records.validation import validate
from crm_segments.schemas.segments import SegmentIn
from crm_segments.segments.prebuilt import install_builtin_segments
from crm_segments.segments.refresh import refresh_segment
from tests.factories import JobFactory, ProfileFactory
from tests.segments.test_refresh import IN_ONTARIO, NOW, make_segment, members
from tests.signed_in import csrf_token_from
from tests.tasks import follow_task


def _token(client: FlaskClient) -> str:
    return csrf_token_from(client.get("/segments"))


def test_list_and_page_for_sales(sales_client: FlaskClient, session: Session) -> None:
    segment = make_segment(session)
    ProfileFactory(region="Ontario", first_name="Ada", last_name="Lovelace")
    refresh_segment(session, segment, now=NOW)
    ProfileFactory(region="Ontario", first_name="Bo", last_name="Later")
    refresh_segment(session, segment, now=NOW.replace(hour=13))

    listing = sales_client.get("/segments")
    assert listing.status_code == 200
    text = listing.get_data(as_text=True)
    assert "Ontario" in text and "New segment" not in text

    page = sales_client.get(f"/segments/{segment.id}").get_data(as_text=True)
    assert "Region is Ontario" in page and "Ada Lovelace" in page
    assert "id=\"size-chart\"" in page
    assert "event-entered" in page and "Bo Later" in page
    assert "/edit" not in page  # no edit button for sales


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/segments/new"),
    ("get", "/segments/{id}/edit"),
    ("post", "/segments/{id}/edit"),
    ("post", "/segments/{id}/delete"),
    ("post", "/segments/{id}/members"),
    ("post", "/segments/preview"),
])
def test_sales_cannot_change_segments(sales_client: FlaskClient, session: Session, method: str,
                                      path: str) -> None:
    segment = make_segment(session)
    kwargs = {"data": {"csrf_token": _token(sales_client), "name": "Taken over"}} if method == "post" else {}
    response = getattr(sales_client, method)(path.format(id=segment.id), **kwargs)
    assert response.status_code == 403
    assert session.get(Segment, segment.id) is not None


def test_anonymous_is_sent_to_login(client: FlaskClient, session: Session) -> None:
    assert client.get("/segments").status_code == 302


def test_admin_creates_a_live_segment_and_it_is_refreshed(admin_client: FlaskClient,
                                                           session: Session) -> None:
    inside = ProfileFactory(region="Ontario")
    form = admin_client.get("/segments/new")
    assert form.status_code == 200 and 'id="rule-metadata"' in form.get_data(as_text=True)
    token = csrf_token_from(form)

    response = admin_client.post("/segments/new", data={
        "csrf_token": token, "name": "Ontarians", "description": "", "kind": "live",
        "refresh_interval_minutes": "30", "rule": json.dumps(IN_ONTARIO)})

    page = follow_task(admin_client, response)
    assert "Refreshed Ontarians: 1 member (+1" in page and 'data-task-status="done"' in page
    segment = session.scalars(select(Segment).where(Segment.name == "Ontarians")).one()
    assert segment.refresh_interval_minutes == 30 and members(session, segment) == {inside.id}
    assert "live segment · 1 member\n" in admin_client.get(f"/segments/{segment.id}").get_data(as_text=True)


def test_editor_shows_errors_at_their_path_and_saves_nothing(admin_client: FlaskClient,
                                                              session: Session) -> None:
    segment = make_segment(session)
    token = csrf_token_from(admin_client.get(f"/segments/{segment.id}/edit"))
    bad = {"all": [IN_ONTARIO, {"field": "region", "op": "between", "value": 3}]}

    response = admin_client.post(f"/segments/{segment.id}/edit", data={
        "csrf_token": token, "name": "Renamed", "refresh_interval_minutes": "60", "rule": json.dumps(bad)})

    assert response.status_code == 422
    assert "rule.all[1].op" in response.get_data(as_text=True)
    session.refresh(segment)
    assert segment.name == "Ontario" and segment.rule == IN_ONTARIO


def test_live_preview_endpoint(admin_client: FlaskClient, session: Session) -> None:
    ProfileFactory(region="Ontario", email_consent=True)
    ProfileFactory(region="Ontario")
    token = _token(admin_client)
    headers = {"X-CSRFToken": token}

    ok = admin_client.post("/segments/preview", json={"rule": IN_ONTARIO}, headers=headers)
    assert ok.status_code == 200
    assert (ok.json["count"], ok.json["email_reachable"], len(ok.json["sample"])) == (2, 1, 2)
    bad = admin_client.post("/segments/preview", json={"rule": {"any": []}}, headers=headers)
    assert bad.status_code == 422 and bad.json["error"]["field"] == "rule.any"
    no_token = admin_client.post("/segments/preview", json={"rule": IN_ONTARIO})
    assert no_token.status_code == 400


def test_export_is_neutralised_and_open_to_sales(sales_client: FlaskClient, session: Session) -> None:
    segment = make_segment(session)
    ProfileFactory(region="Ontario", company="=HYPERLINK(\"http://evil\")")
    refresh_segment(session, segment, now=NOW)

    response = sales_client.get(f"/segments/{segment.id}/export.csv")

    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data(as_text=True)
    assert "'=HYPERLINK" in body and ",=HYPERLINK" not in body


def test_static_list_by_csv_upload(admin_client: FlaskClient, session: Session) -> None:
    segment = make_segment(session, name="Leads", kind="static", rule=None)
    ann = ProfileFactory(email="ann@example.com")
    token = csrf_token_from(admin_client.get(f"/segments/{segment.id}"))
    upload = (io.BytesIO(b"email\nann@example.com\nghost@example.com\n"), "leads.csv")

    response = admin_client.post(f"/segments/{segment.id}/members", data={
        "csrf_token": token, "action": "add", "ids": "", "file": upload},
        content_type="multipart/form-data", follow_redirects=True)

    text = response.get_data(as_text=True)
    assert "1 of 2 lines matched no profile" in text and "ghost@example.com" in text
    assert members(session, segment) == {ann.id}


def test_reset_builtin_and_refuse_deleting_it(admin_client: FlaskClient, session: Session) -> None:
    install_builtin_segments(session)
    segment = session.scalars(select(Segment).where(Segment.key == "new_customers")).one()
    segment.rule = {"field": "region", "op": "eq", "value": "Nowhere"}
    segment.parameters = None
    session.flush()
    token = csrf_token_from(admin_client.get(f"/segments/{segment.id}"))

    admin_client.post(f"/segments/{segment.id}/delete", data={"csrf_token": token})
    assert session.get(Segment, segment.id) is not None
    reset = follow_task(admin_client,
                        admin_client.post(f"/segments/{segment.id}/reset", data={"csrf_token": token}))
    assert f"{segment.name} is back to its shipped rule." in reset and "Saved" not in reset

    session.refresh(segment)
    assert segment.rule == segment.shipped_rule and segment.parameters == {"days": 90}


def test_overlap_and_cohorts_pages(sales_client: FlaskClient, session: Session) -> None:
    a = make_segment(session, name="A")
    b = make_segment(session, name="B", rule={"field": "company_size", "op": "gte", "value": 10})
    ProfileFactory(region="Ontario", company_size=50)
    JobFactory()
    refresh_segment(session, a, now=NOW)
    refresh_segment(session, b, now=NOW)

    overlap = sales_client.get(f"/segments/overlap?a={a.id}&b={b.id}")
    assert overlap.status_code == 200 and 'id="overlap-table"' in overlap.get_data(as_text=True)
    cohorts = sales_client.get("/segments/cohorts?basis=purchase&months=6")
    assert cohorts.status_code == 200 and 'id="cohorts-table"' in cohorts.get_data(as_text=True)


def test_profile_page_explains_membership(sales_client: FlaskClient, session: Session) -> None:
    segment = make_segment(session, rule={"all": [IN_ONTARIO, {"field": "company_size", "op": "gte",
                                                                "value": 100}]})
    profile = ProfileFactory(region="Ontario", company_size=5)
    refresh_segment(session, segment, now=NOW)
    assert session.scalar(select(SegmentMember).where(SegmentMember.profile_id == profile.id)) is None

    page = sales_client.get(f"/profiles/{profile.id}?explain={segment.id}").get_data(as_text=True)

    assert "does not match" in page
    assert "explain-yes" in page and "explain-no" in page  # region holds, company size does not
    assert "Region is Ontario" in page


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"name": " ", "refresh_interval_minutes": "60"}, "name", "must be a text of 1-120 characters"),
    ({"name": "x" * 121, "refresh_interval_minutes": "60"}, "name", "must be a text of 1-120 characters"),
    ({"name": "Weekly", "refresh_interval_minutes": "soon"}, "refresh_interval_minutes",
     "must be a whole number from 0 (never) to 10080"),
    ({"name": "Weekly", "refresh_interval_minutes": "20000"}, "refresh_interval_minutes",
     "must be a whole number from 0 (never) to 10080"),
])
def test_the_editor_and_the_api_refuse_a_value_with_the_same_model_and_message(
        admin_client: FlaskClient, session: Session, fields: dict[str, str], field: str,
        message: str) -> None:
    token = csrf_token_from(admin_client.get("/segments/new"))
    page = admin_client.post("/segments/new", data={"csrf_token": token, "kind": "static", **fields})
    assert page.status_code == 422 and message in page.get_data(as_text=True)
    with pytest.raises(ValidationFailed) as refused:  # what the API's POST /segments reads its body with
        validate(SegmentIn, {"kind": "static", **fields})
    assert [(e.field, e.message) for e in refused.value.errors] == [(field, message)]
    assert session.scalar(select(Segment).where(Segment.kind == "static")) is None

"""Bulk tagging from the quote, job and opportunity lists: selected rows and the whole filtered list,
undo, refusals, CSRF; and the same through the JSON API's record_filter."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.accounts import users
from crm_segments.models import BulkOperation, JobTag, OpportunityTag, ProfileTag, QuoteTag, Tag
from crm_segments.records.queries import filtered_record_ids_select, validate_record_filter
from crm_segments.selection import targets as selection
from tests.factories import (
    JobFactory,
    OpportunityFactory,
    ProfileFactory,
    QuoteFactory,
    QuoteTagFactory,
    TagFactory,
    UserFactory,
)
from tests.tagging.helpers import tagged_ids
from tests.tasks import follow_task
from tests.web.api.conftest import Api
from tests.web.conftest import csrf_token_from


@pytest.fixture
def quotes(session: Session) -> dict[str, Any]:
    ada = ProfileFactory(first_name="Ada", last_name="Lovelace")
    alan = ProfileFactory(first_name="Alan", last_name="Turing")
    return {
        "big_sent": QuoteFactory(profile=ada, status="sent", total=Decimal("5000")),
        "small_sent": QuoteFactory(profile=ada, status="sent", total=Decimal("100")),
        "big_draft": QuoteFactory(profile=ada, status="draft", total=Decimal("7000")),
        "alan_big_sent": QuoteFactory(profile=alan, status="sent", total=Decimal("6000")),
    }


def _tag(session: Session, name: str) -> Tag:
    return session.scalars(select(Tag).where(Tag.name_key == name.casefold())).one()


def _token(client: FlaskClient, url: str = "/quotes") -> str:
    return csrf_token_from(client.get(url))


def test_whole_filtered_list_tags_exactly_its_records_and_undo_restores(
        sales_client: FlaskClient, session: Session, quotes: dict[str, Any]) -> None:
    listed = sales_client.get("/quotes?status=sent&amount_min=1000&q=lovelace").get_data(as_text=True)
    assert f'data-row-id="{quotes["big_sent"].id}"' in listed
    token = csrf_token_from(sales_client.get("/quotes"))
    next_url = "/quotes?status=sent&amount_min=1000&q=lovelace"
    response = sales_client.post("/tags/bulk", data={
        "csrf_token": token, "entity_type": "quote", "scope": "filter", "q": "lovelace", "status": "sent",
        "date_from": "", "date_to": "", "amount_min": "1000", "amount_max": "", "tag": "",
        "tags": "Big deal, Chase", "action": "add", "next": next_url})
    done = follow_task(sales_client, response)
    assert "Added &#39;Big deal&#39; to 1 quotes" in done and f'href="{next_url}"' not in done
    big, chase = _tag(session, "Big deal"), _tag(session, "Chase")
    assert tagged_ids(session, big, "quote") == tagged_ids(session, chase, "quote") == {quotes["big_sent"].id}
    assert session.scalar(select(ProfileTag)) is None  # records were tagged, not their profiles
    op = session.scalars(select(BulkOperation)).one()
    assert (op.entity_type, op.selection_kind) == ("quote", "filter")
    assert (op.selected_count, op.changed_count) == (1, 2)
    assert op.selection == {"q": "lovelace", "status": "sent", "amount_min": "1000"}
    assert op.selection_description == (
        "Quotes matching profile 'lovelace', status 'sent', total at least 1,000")
    assert ">Big deal</span>" in sales_client.get(next_url).get_data(as_text=True)

    undone = sales_client.post(f"/tags/bulk-operations/{op.id}/undo", data={"csrf_token": token})
    assert undone.status_code == 302
    session.expire_all()
    assert session.scalar(select(QuoteTag)) is None and op.undone_at is not None


def test_the_bulk_selection_is_the_list_filter(session: Session, quotes: dict[str, Any]) -> None:
    vip = TagFactory(name="VIP", name_key="vip")
    QuoteTagFactory(quote=quotes["alan_big_sent"], tag=vip)
    filters = {"status": "sent", "tag": "VIP", "amount_min": "1000"}
    chosen = selection.by_record_filter("quote", **filters)
    listed = set(session.scalars(filtered_record_ids_select(validate_record_filter("quote", **filters))))
    assert set(session.scalars(chosen.ids)) == listed == {quotes["alan_big_sent"].id}
    assert selection.count(session=session, selection=chosen) == 1


def test_selected_rows_of_a_record_list(sales_client: FlaskClient, session: Session) -> None:
    jobs = JobFactory.create_batch(3)
    token = _token(sales_client, "/jobs")
    ids = f"{jobs[0].id},{jobs[2].id}"
    response = sales_client.post("/tags/bulk", data={
        "csrf_token": token, "entity_type": "job", "scope": "selected", "ids": ids, "tags": "Picked",
        "action": "add", "next": "/jobs"})
    assert response.status_code == 302 and response.headers["Location"] == "/jobs"
    assert tagged_ids(session, _tag(session, "Picked"), "job") == {jobs[0].id, jobs[2].id}
    assert session.scalar(select(BulkOperation.selection_description)) == "2 selected jobs"
    missing = sales_client.post("/tags/bulk", data={
        "csrf_token": token, "entity_type": "job", "scope": "selected", "ids": "999999", "tags": "Picked",
        "action": "add"}, follow_redirects=True)
    assert "Nothing was changed: ids: no job with id 999999" in missing.get_data(as_text=True)


def test_removing_by_filter_then_undo_puts_the_tags_back(sales_client: FlaskClient, session: Session) -> None:
    won = OpportunityFactory.create_batch(2, stage="won", expected_close=dt.date(2026, 5, 1))
    lost = OpportunityFactory(stage="lost", expected_close=dt.date(2026, 5, 1))
    token = _token(sales_client, "/opportunities")
    for opportunity in (*won, lost):
        sales_client.post(f"/tags/entity/opportunity/{opportunity.id}/add",
                          data={"name": "Q2", "csrf_token": token})
    q2 = _tag(session, "Q2")
    follow_task(sales_client, sales_client.post("/tags/bulk", data={
        "csrf_token": token, "entity_type": "opportunity", "scope": "filter", "stage": "won",
        "date_from": "2026-04-01", "date_to": "2026-06-30", "tags": "Q2", "action": "remove"}))
    assert tagged_ids(session, q2, "opportunity") == {lost.id}
    op = session.scalars(select(BulkOperation)).one()
    assert op.changed_count == 2 and op.selection["stage"] == "won"
    sales_client.post(f"/tags/bulk-operations/{op.id}/undo", data={"csrf_token": token})
    assert tagged_ids(session, q2, "opportunity") == {o.id for o in (*won, lost)}
    restored = session.scalars(select(OpportunityTag).where(OpportunityTag.entity_id == won[0].id)).one()
    assert restored.source == "manual"  # put back as it was


@pytest.mark.parametrize(("form", "message"), [
    ({"entity_type": "quote", "scope": "filter", "amount_min": "lots"}, "amount_min: must be an amount"),
    ({"entity_type": "quote", "scope": "filter", "status": "won"}, "status: must be one of"),
    ({"entity_type": "opportunity", "scope": "filter", "stage": "sent"}, "stage: must be one of"),
    ({"entity_type": "quote", "scope": "segment", "segment_id": "1"}, "scope: choose selected rows or the"),
    ({"entity_type": "ticket", "scope": "filter"}, "entity_type: must be profile, quote, job or opportunity"),
])
def test_refused_bulk_changes_nothing_and_names_the_field(sales_client: FlaskClient, session: Session,
                                                         quotes: dict[str, Any], form: dict[str, str],
                                                         message: str) -> None:
    token = _token(sales_client)
    data = {"csrf_token": token, "tags": "X", "action": "add", **form}
    response = sales_client.post("/tags/bulk", data=data, follow_redirects=True)
    assert f"Nothing was changed: {message}" in response.get_data(as_text=True)
    assert session.scalar(select(BulkOperation)) is None and session.scalar(select(QuoteTag)) is None


def test_bulk_needs_the_csrf_token(sales_client: FlaskClient, session: Session,
                                   quotes: dict[str, Any]) -> None:
    response = sales_client.post("/tags/bulk", data={
        "entity_type": "quote", "scope": "filter", "tags": "X", "action": "add"})
    assert response.status_code == 400
    assert session.scalar(select(BulkOperation)) is None and session.scalar(select(QuoteTag)) is None


def test_admins_bulk_tag_records_too(admin_client: FlaskClient, session: Session) -> None:
    job = JobFactory(status="cancelled")
    JobFactory(status="completed")
    token = _token(admin_client, "/jobs")
    follow_task(admin_client, admin_client.post("/tags/bulk", data={
        "csrf_token": token, "entity_type": "job", "scope": "filter", "status": "cancelled",
        "tags": "Lost cause", "action": "add"}))
    assert session.scalars(select(JobTag.entity_id)).all() == [job.id]


# The JSON API

@pytest.fixture
def api(client: FlaskClient, session: Session) -> Api:
    user = UserFactory(role="sales")
    return Api(client, users.create_api_key(session=session, email=user.email, name="records")[1])


def _fields(response: Any) -> list[str]:
    return [f["field"] for f in response.json["error"]["fields"]]


def test_api_bulk_by_record_filter_and_undo(api: Api, session: Session, quotes: dict[str, Any]) -> None:
    created = api.post("/bulk-tag-operations", json={
        "action": "add", "tags": ["Big"], "entity_type": "quote",
        "record_filter": {"status": "sent", "amount_min": 1000}})
    assert created.status_code == 201
    assert (created.json["selected_count"], created.json["changed_count"]) == (2, 2)
    assert created.json["selection_kind"] == "filter" and created.json["entity_type"] == "quote"
    big = _tag(session, "Big")
    assert tagged_ids(session, big, "quote") == {quotes["big_sent"].id, quotes["alan_big_sent"].id}
    assert api.post(f"/bulk-tag-operations/{created.json['id']}/undo").status_code == 200
    assert tagged_ids(session, big, "quote") == set()


def test_api_record_filter_errors_name_the_field(api: Api, session: Session) -> None:
    def post(**body: Any) -> Any:
        return api.post("/bulk-tag-operations", json={"action": "add", "tags": ["x"], **body})

    bad_amount = post(entity_type="job", record_filter={"amount_min": "lots"})
    assert bad_amount.status_code == 422 and _fields(bad_amount) == ["record_filter.amount_min"]
    bad_date = post(entity_type="job", record_filter={"date_from": "2026-02-30"})
    assert bad_date.status_code == 422 and _fields(bad_date) == ["record_filter.date_from"]
    bad_range = post(entity_type="quote", record_filter={"date_from": "2026-03-01", "date_to": "2026-02-01"})
    assert bad_range.status_code == 422 and _fields(bad_range) == ["record_filter.date_to"]
    bad_status = post(entity_type="quote", record_filter={"status": "won"})
    assert bad_status.status_code == 422 and _fields(bad_status) == ["record_filter.status"]
    stage_on_quote = post(entity_type="quote", record_filter={"stage": "won"})
    assert stage_on_quote.status_code == 422 and _fields(stage_on_quote) == ["record_filter.stage"]
    status_on_opportunity = post(entity_type="opportunity", record_filter={"status": "won"})
    assert _fields(status_on_opportunity) == ["record_filter.status"]
    on_profiles = post(record_filter={})
    assert on_profiles.status_code == 422 and _fields(on_profiles) == ["entity_type"]
    profile_filter_on_quotes = post(entity_type="quote", filter={"region": "North"})
    assert _fields(profile_filter_on_quotes) == ["entity_type"]
    both = post(entity_type="quote", record_filter={}, ids=[1])
    assert both.status_code == 422 and _fields(both) == ["selection"]
    assert session.scalar(select(BulkOperation)) is None


def test_api_opportunity_stage_filter(api: Api, session: Session) -> None:
    won = OpportunityFactory(stage="won")
    OpportunityFactory(stage="lost")
    created = api.post("/bulk-tag-operations", json={
        "action": "add", "tags": ["Won"], "entity_type": "opportunity", "record_filter": {"stage": "won"}})
    assert created.status_code == 201
    assert tagged_ids(session, _tag(session, "Won"), "opportunity") == {won.id}


def test_openapi_describes_the_record_filter(api: Api) -> None:
    spec = api.get("/openapi.json").json
    schemas = spec["components"]["schemas"]
    assert "record_filter" in schemas["BulkIn"]["properties"]
    assert set(schemas["RecordFilterIn"]["properties"]) == {
        "q", "status", "stage", "date_from", "date_to", "amount_min", "amount_max", "tag"}
    summary = spec["paths"]["/bulk-tag-operations"]["post"]["summary"]
    assert "record_filter" in summary

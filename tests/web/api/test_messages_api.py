"""The message and template endpoints: filters and keyset pages, one message with its events,
templates read by every key and changed by admins, errors naming the field; responses match the spec."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.accounts import users
from crm_segments.models import Message, MessageTemplate
from crm_segments.templates.template_store import shipped_templates
from tests.factories import AdminFactory, ProfileFactory, QuoteFactory
from tests.web.message_data import T0, event, message, workflow

from .conftest import Api

pytestmark = pytest.mark.usefixtures("backend")
KEY = "sales/quote_follow_up"


@pytest.fixture
def admin_api(client: FlaskClient, session: Session) -> Api:
    admin = AdminFactory()
    return Api(client, users.create_api_key(session=session, email=admin.email, name="admin key")[1])


@pytest.fixture
def spec(api: Api) -> dict[str, Any]:
    found: dict[str, Any] = api.get("/openapi.json").json
    return found


def _check(spec: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    schema = spec["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": spec["components"]}).validate(body)


def _fields(response: Any) -> dict[str, str]:
    return {f["field"]: f["message"] for f in response.json["error"]["fields"]}


def test_messages_filtered_and_paged_newest_first(api: Api, session: Session, spec: dict[str, Any]) -> None:
    ann = ProfileFactory(first_name="Annabel", email="annabel@shop.example")
    quoted = workflow(session, "Quote chase", segment_name="Quoted")
    rows = [message(session, ann, workflow_id=quoted.id, at=T0 + dt.timedelta(hours=i)) for i in range(5)]
    other = message(session, ProfileFactory(), channel="sms", status="failed", at=T0 + dt.timedelta(days=3))

    first = api.get("/messages?limit=2")
    assert first.status_code == 200
    _check(spec, "/messages", "get", 200, first.json)
    assert [m["id"] for m in first.json["items"]] == [other.id, rows[4].id]
    second = api.get(f"/messages?limit=2&after={first.json['next_after']}")
    assert [m["id"] for m in second.json["items"]] == [rows[3].id, rows[2].id]

    seen, after = [], None
    while True:
        page = api.get(f"/messages?segment_id={quoted.trigger_segment_id}&limit=2"
                       + (f"&after={after}" if after else "")).json
        seen += [m["id"] for m in page["items"]]
        after = page["next_after"]
        if after is None:
            break
    assert seen == [r.id for r in reversed(rows)]
    assert [m["id"] for m in api.get("/messages?channel=sms&status=failed").json["items"]] == [other.id]
    assert len(api.get("/messages?q=annab").json["items"]) == 5
    window = api.get("/messages", query_string={"since": (T0 + dt.timedelta(hours=1)).isoformat(),
                                                "until": (T0 + dt.timedelta(hours=3)).isoformat()})
    assert [m["id"] for m in window.json["items"]] == [rows[2].id, rows[1].id]
    assert [m["id"] for m in api.get(f"/messages?workflow_id={quoted.id}&profile_id={ann.id}&limit=1")
            .json["items"]] == [rows[4].id]


@pytest.mark.parametrize(("query", "field"), [
    ("status=lost", "status"),
    ("channel=fax", "channel"),
    ("since=2030-06-01T00:00:00", "since"),  # no time zone
    ("workflow_id=abc", "workflow_id"),
    ("colour=red", "colour"),
    ("limit=0", "limit"),
])
def test_bad_message_filters_name_the_field(api: Api, query: str, field: str, spec: dict[str, Any]) -> None:
    refused = api.get(f"/messages?{query}")
    assert refused.status_code == 422
    _check(spec, "/messages", "get", 422, refused.json)
    assert list(_fields(refused)) == [field]


def test_one_message_with_its_events(api: Api, session: Session, spec: dict[str, Any]) -> None:
    row = message(session, ProfileFactory(), status="delivered", html_body="<p>Hi</p>", text_body="Hi",
                  provider="sendgrid", provider_message_id="sg-1", delivered_at=T0)
    event(session, row, "delivered", T0 + dt.timedelta(minutes=2))
    event(session, row, "processed", T0 + dt.timedelta(minutes=1))
    found = api.get(f"/messages/{row.id}")
    assert found.status_code == 200
    _check(spec, "/messages/{id}", "get", 200, found.json)
    assert (found.json["html_body"], found.json["text_body"], found.json["provider_message_id"]) == (
        "<p>Hi</p>", "Hi", "sg-1")
    assert [e["event"] for e in found.json["events"]] == ["processed", "delivered"]
    missing = api.get("/messages/999999")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"


def test_templates_are_read_by_any_key(api: Api, spec: dict[str, Any]) -> None:
    listed = api.get("/templates")
    assert listed.status_code == 200
    _check(spec, "/templates", "get", 200, listed.json)
    assert {t["key"] for t in listed.json["items"]} == set(shipped_templates())
    sms = api.get("/templates?channel=sms&content_type=sales").json["items"]
    assert [t["key"] for t in sms] == ["sales/quote_reminder"]
    one = api.get(f"/templates/{KEY}")
    _check(spec, "/templates/{key}", "get", 200, one.json)
    assert one.json["origin"] == "shipped" and one.json["subject"] == shipped_templates()[KEY].subject
    assert api.get("/templates/sales/nope").status_code == 404
    assert list(_fields(api.get("/templates?channel=fax"))) == ["channel"]


def test_only_admins_change_templates_and_bad_parts_save_nothing(
        api: Api, admin_api: Api, sales_api: Api, session: Session, spec: dict[str, Any]) -> None:
    body = {"subject": "Your quote {{ quote.number }}",
            "text_body": "Hi {{ profile.first_name }}\nUnsubscribe: {{ unsubscribe_url }}"}
    denied = sales_api.put(f"/templates/{KEY}", json=body)
    assert denied.status_code == 403 and denied.json["error"]["code"] == "forbidden"

    refused = admin_api.put(f"/templates/{KEY}", json={**body, "html_body": "<p>ok</p>\n{{ profile.nick }}"})
    assert refused.status_code == 422
    _check(spec, "/templates/{key}", "put", 422, refused.json)
    assert _fields(refused) == {"html_body": "line 2: missing variable: profile.nick is undefined"}
    assert list(_fields(admin_api.put(f"/templates/{KEY}", json={"subject": "x"}))) == ["text_body"]
    sms = admin_api.put("/templates/sales/quote_reminder", json={"subject": "x", "text_body": "y"})
    assert _fields(sms) == {"subject": "an SMS template has only text_body"}
    bad_json = admin_api.put(f"/templates/{KEY}", data="{", content_type="application/json")
    assert bad_json.status_code == 400 and list(_fields(bad_json)) == ["body"]
    assert session.scalars(select(MessageTemplate)).first() is None

    saved = admin_api.put(f"/templates/{KEY}", json=body)
    assert saved.status_code == 200, saved.json
    _check(spec, "/templates/{key}", "put", 200, saved.json)
    assert (saved.json["origin"], saved.json["html_body"]) == ("edited", None)
    assert api.get(f"/templates/{KEY}").json["subject"] == "Your quote {{ quote.number }}"

    assert sales_api.post(f"/templates/{KEY}/reset").status_code == 403
    reset = admin_api.post(f"/templates/{KEY}/reset")
    assert reset.status_code == 200 and reset.json["origin"] == "shipped"
    assert reset.json["html_body"] == shipped_templates()[KEY].html_body


def test_preview_for_a_profile_and_record(api: Api, session: Session, spec: dict[str, Any]) -> None:
    bea = ProfileFactory(first_name="Bea")
    quote = QuoteFactory(profile=bea, number="Q-9001")
    shown = api.post(f"/templates/{KEY}/preview", json={"profile_id": bea.id,
                                                        "subject": "For {{ profile.first_name }}"})
    assert shown.status_code == 200, shown.json
    _check(spec, "/templates/{key}/preview", "post", 200, shown.json)
    assert shown.json["subject"] == "For Bea"
    assert (shown.json["record_type"], shown.json["record_id"]) == ("quote", quote.id)
    assert "Q-9001" in shown.json["text"] and "Q-9001" in shown.json["html"]

    sms = api.post("/templates/sales/quote_reminder/preview", json={"profile_id": bea.id})
    assert sms.json["text"].startswith("Hi Bea") and sms.json["html"] is None

    for payload, field in (({"profile_id": 999999}, "profile_id"),
                           ({"profile_id": bea.id, "record_type": "invoice"}, "record_type"),
                           ({"profile_id": bea.id, "text_body": "{{ profile.nick }}"}, "text_body"),
                           ({"profile_id": bea.id, "record_id": 999999}, "record_id")):
        refused = api.post(f"/templates/{KEY}/preview", json=payload)
        assert refused.status_code == 422, payload
        _check(spec, "/templates/{key}/preview", "post", 422, refused.json)
        assert list(_fields(refused)) == [field], payload


def test_the_openapi_description_lists_the_message_endpoints(spec: dict[str, Any]) -> None:
    assert set(spec["paths"]["/messages"]) == {"get"}
    assert set(spec["paths"]["/templates/{key}"]) == {"get", "put"}
    params = {p["name"] for p in spec["paths"]["/messages"]["get"]["parameters"]}
    assert {"channel", "status", "workflow_id", "segment_id", "q", "template", "since", "until", "after",
            "limit"} <= params


def test_results_per_segment(api: Api, session: Session, spec: dict[str, Any]) -> None:
    from crm_segments.models import Enrollment

    quoted = workflow(session, "Quote chase", segment_name="Quoted")
    workflow(session, "Tag only")  # not segment-triggered: not listed
    ann, bob = ProfileFactory(), ProfileFactory()
    for profile in (ann, bob):
        session.add(Enrollment(workflow_id=quoted.id, profile_id=profile.id, trigger_key=f"k{profile.id}",
                               enrolled_at=T0))
    session.flush()
    message(session, ann, workflow_id=quoted.id, status="clicked", delivered_at=T0, opened_at=T0,
            clicked_at=T0)
    message(session, bob, workflow_id=quoted.id, status="unsubscribed", delivered_at=T0)
    found = api.get("/segment-results")
    assert found.status_code == 200
    _check(spec, "/segment-results", "get", 200, found.json)
    [row] = found.json["items"]
    assert (row["segment_name"], row["workflows"]) == ("Quoted", 1)
    assert {k: row[k] for k in ("enrolled", "sent", "delivered", "opened", "clicked", "unsubscribed")} == {
        "enrolled": 2, "sent": 2, "delivered": 2, "opened": 1, "clicked": 1, "unsubscribed": 1}
    later = api.get("/segment-results", query_string={"since": (T0 + dt.timedelta(days=1)).isoformat()})
    assert later.json["items"][0]["enrolled"] == 0
    assert list(_fields(api.get("/segment-results?since=yesterday"))) == ["since"]


def test_unconfirmed_messages_are_sent_again_or_closed_in_bulk_by_an_admin_key(
        admin_api: Api, sales_api: Api, session: Session, spec: dict[str, Any]) -> None:
    def unconfirmed(**values: Any) -> Any:
        return message(session, ProfileFactory(), status="unconfirmed", sent_at=None, **values)

    emails = [unconfirmed() for _ in range(3)]
    sms = unconfirmed(channel="sms", to_address="+15551230000")
    sent = message(session, ProfileFactory())

    denied = sales_api.post("/messages/unconfirmed/requeue", json={})
    assert denied.status_code == 403 and denied.json["error"]["code"] == "forbidden"
    bad = admin_api.post("/messages/unconfirmed/close", json={"status": "sent"})
    assert bad.status_code == 422 and bad.json["error"]["fields"][0]["field"] == "status"
    assert admin_api.post("/messages/unconfirmed/close", json={"ids": []}).status_code == 422

    closed = admin_api.post("/messages/unconfirmed/close", json={"ids": [emails[0].id, sent.id]})
    assert closed.status_code == 200 and closed.json == {"count": 1}  # a sent one is left alone
    _check(spec, "/messages/unconfirmed/close", "post", 200, closed.json)
    again = admin_api.post("/messages/unconfirmed/requeue", json={"channel": "email"})
    assert again.json == {"count": 2}
    session.expire_all()
    statuses = [session.get(Message, m.id).status for m in (*emails, sms, sent)]  # type: ignore[union-attr]
    assert statuses == ["failed", "pending", "pending", "unconfirmed", "sent"]
    reason = session.get(Message, emails[1].id).status_reason  # type: ignore[union-attr]
    assert reason is not None and "(API)" in reason
    listed = admin_api.get("/messages?status=unconfirmed").json["items"]
    assert [m["id"] for m in listed] == [sms.id]

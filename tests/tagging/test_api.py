"""The tagging endpoints of the JSON API, their errors and role checks."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.accounts import users
from crm_segments.models import AutoTagRule, BulkOperation, ProfileTag, Tag
from tests.factories import ProfileFactory, ProfileTagFactory, QuoteFactory, TagFactory, UserFactory
from tests.web.api.conftest import Api

from .helpers import events, make_rule, tagged_ids

CUSTOMER = {"field": "lifecycle_status", "op": "eq", "value": "customer"}


def _api(client: FlaskClient, session: Session, role: str) -> Api:
    user = UserFactory(role=role)
    return Api(client, users.create_api_key(session=session, email=user.email, name=role)[1])


@pytest.fixture
def sales_api(client: FlaskClient, session: Session) -> Api:
    return _api(client, session, "sales")


@pytest.fixture
def admin_api(client: FlaskClient, session: Session) -> Api:
    return _api(client, session, "admin")


def _fields(response: Any) -> list[str]:
    return [f["field"] for f in response.json["error"]["fields"]]


def test_tags_crud_with_errors_naming_the_field(sales_api: Api, session: Session) -> None:
    created = sales_api.post("/tags", json={"name": " Gold  tier ", "color": "#FFD700"})
    assert created.status_code == 201 and created.json["name"] == "Gold tier"
    tag_id = created.json["id"]
    assert sales_api.post("/tags", json={"name": "GOLD TIER"}).status_code == 409
    bad = sales_api.post("/tags", json={"name": "", "color": "gold"})
    assert bad.status_code == 422 and _fields(bad) == ["name", "color"]
    typo = sales_api.post("/tags", json={"name": "x", "colour": "#000000"})
    assert typo.status_code == 422 and _fields(typo) == ["colour"]
    ProfileTagFactory(tag=session.get(Tag, tag_id))
    got = sales_api.get(f"/tags/{tag_id}")
    assert got.json["counts"] == {"profile": 1, "quote": 0, "job": 0, "opportunity": 0}
    patched = sales_api.patch(f"/tags/{tag_id}", json={"color": "#000000"})
    assert patched.status_code == 200 and patched.json["color"] == "#000000"
    listed = sales_api.get("/tags").json["items"]
    assert [t["name"] for t in listed] == ["Gold tier"]
    assert sales_api.get("/tags/999999").status_code == 404


def test_deleting_and_merging_tags_need_an_admin(sales_api: Api, admin_api: Api, session: Session) -> None:
    tag, other = TagFactory(), TagFactory()
    ProfileTagFactory.create_batch(2, tag=tag)
    assert sales_api.delete(f"/tags/{tag.id}").status_code == 403
    merge = {"source_ids": [tag.id], "target_id": other.id}
    assert sales_api.post("/tags/merge", json=merge).status_code == 403
    merged = admin_api.post("/tags/merge", json=merge)
    assert merged.status_code == 200 and merged.json["moved"] == {"profile": 2}
    deleted = admin_api.delete(f"/tags/{other.id}")
    assert deleted.status_code == 200 and deleted.json == {"removed": 2, "paused_workflow_ids": []}
    assert session.scalar(select(ProfileTag)) is None


def test_taggings_of_each_entity(sales_api: Api, session: Session) -> None:
    quote = QuoteFactory()
    added = sales_api.post(f"/quotes/{quote.id}/tags", json={"name": "Urgent"})
    assert added.status_code == 201 and added.json["changed"] is True
    again = sales_api.post(f"/quotes/{quote.id}/tags", json={"name": "urgent"})
    assert again.status_code == 200 and again.json["changed"] is False
    listed = sales_api.get(f"/quotes/{quote.id}/tags").json
    assert [i["tag"]["name"] for i in listed["items"]] == ["Urgent"] and listed["items"][0]["source"] == "api"
    tag_id = added.json["tag"]["id"]
    assert [e.source for e in events(session, entity_type="quote")] == ["api"]
    removed = sales_api.delete(f"/quotes/{quote.id}/tags/{tag_id}")
    assert removed.status_code == 200 and removed.json["changed"] is True
    assert sales_api.get("/jobs/999999/tags").status_code == 404
    bad = sales_api.post(f"/profiles/{quote.profile_id}/tags", json={"name": "a,b"})
    assert bad.status_code == 422 and _fields(bad) == ["tag"]


def test_removing_an_automatic_tag_suppresses_until_cleared(sales_api: Api, session: Session) -> None:
    tag = TagFactory()
    rule = make_rule(session, tag)
    profile = ProfileFactory()
    ProfileTagFactory(profile=profile, tag=tag, source="rule", rule_id=rule.id)
    removed = sales_api.delete(f"/profiles/{profile.id}/tags/{tag.id}")
    assert removed.json["suppressed"] is True
    assert [t["id"] for t in sales_api.get(f"/profiles/{profile.id}/tags").json["suppressed"]] == [tag.id]
    assert sales_api.delete(f"/profiles/{profile.id}/suppressions/{tag.id}").status_code == 204
    assert sales_api.get(f"/profiles/{profile.id}/tags").json["suppressed"] == []


def test_bulk_by_ids_filter_and_segment_and_undo(sales_api: Api, admin_api: Api, session: Session) -> None:
    north = ProfileFactory.create_batch(2, region="North")
    by_filter = sales_api.post("/bulk-tag-operations", json={
        "action": "add", "tags": ["North"], "filter": {"region": "North"}})
    assert by_filter.status_code == 201
    assert (by_filter.json["selected_count"], by_filter.json["changed_count"]) == (2, 2)
    tag = session.scalars(select(Tag).where(Tag.name_key == "north")).one()
    assert tagged_ids(session, tag) == {p.id for p in north}
    by_ids = sales_api.post("/bulk-tag-operations", json={
        "action": "remove", "tags": ["North"], "ids": [north[0].id]})
    assert by_ids.json["changed_count"] == 1
    op_id = by_filter.json["id"]
    assert sales_api.get(f"/bulk-tag-operations/{op_id}").json["tags"] == [
        {"id": tag.id, "name": "North", "changed": 2}]
    undone = sales_api.post(f"/bulk-tag-operations/{op_id}/undo")
    assert undone.status_code == 200 and undone.json["undone_count"] == 1  # one was already removed
    assert sales_api.post(f"/bulk-tag-operations/{op_id}/undo").status_code == 409
    # Someone else's operation: only an admin may undo it.
    assert admin_api.post(f"/bulk-tag-operations/{by_ids.json['id']}/undo").status_code == 200
    listed = sales_api.get("/bulk-tag-operations?limit=1").json
    assert len(listed["items"]) == 1 and listed["next_before"] == listed["items"][0]["id"]


def test_bulk_refusals_name_the_field(sales_api: Api, session: Session) -> None:
    profile = ProfileFactory()
    both = sales_api.post("/bulk-tag-operations", json={"action": "add", "tags": ["x"], "ids": [profile.id],
                                                         "segment_id": 1})
    assert both.status_code == 422 and _fields(both) == ["selection"]
    missing = sales_api.post("/bulk-tag-operations", json={"action": "add", "tags": ["x"], "ids": [999999]})
    assert missing.status_code == 422 and _fields(missing) == ["ids"]
    unknown = sales_api.post("/bulk-tag-operations", json={"action": "remove", "tags": ["nope"],
                                                            "ids": [profile.id]})
    assert unknown.status_code == 422 and _fields(unknown) == ["tags[0]"]
    no_segment = sales_api.post("/bulk-tag-operations",
                                json={"action": "add", "tags": ["x"], "segment_id": 999})
    assert no_segment.status_code == 404
    assert session.scalar(select(BulkOperation)) is None


def test_rules_crud_dry_run_and_run(sales_api: Api, admin_api: Api, session: Session) -> None:
    ProfileFactory.create_batch(2, lifecycle_status="customer")
    body = {"name": "Customers", "condition": CUSTOMER, "tag": "Customer", "mode": "live"}
    assert sales_api.post("/auto-tag-rules", json=body).status_code == 403
    created = admin_api.post("/auto-tag-rules", json=body)
    assert created.status_code == 201 and created.json["tag_name"] == "Customer"
    rule_id = created.json["id"]
    bad = admin_api.patch(f"/auto-tag-rules/{rule_id}", json={"condition": {"all": []}})
    assert bad.status_code == 422 and _fields(bad) == ["condition.all"]
    unnamed = admin_api.patch(f"/auto-tag-rules/{rule_id}", json={"name": " ", "mode": "sometimes"})
    assert unnamed.status_code == 422 and _fields(unnamed) == ["name", "mode"]
    assert unnamed.json["error"]["fields"][0]["message"] == "give a name of 1 to 120 characters"
    dry = sales_api.post(f"/auto-tag-rules/{rule_id}/dry-run")
    assert dry.json == {"rule_id": rule_id, "matched": 2, "added": 2, "removed": 0,
                        "duration_ms": dry.json["duration_ms"], "dry_run": True}
    assert sales_api.post(f"/auto-tag-rules/{rule_id}/run").status_code == 403
    ran = admin_api.post(f"/auto-tag-rules/{rule_id}/run")
    assert ran.json["added"] == 2 and admin_api.get(f"/auto-tag-rules/{rule_id}").json["last_added"] == 2
    assert admin_api.patch(f"/auto-tag-rules/{rule_id}", json={"enabled": False}).json["enabled"] is False
    assert [r["name"] for r in sales_api.get("/auto-tag-rules").json["items"]] == ["Customers"]
    assert admin_api.delete(f"/auto-tag-rules/{rule_id}").status_code == 204
    assert session.scalar(select(AutoTagRule)) is None

"""The tags page, tag editor, bulk bar, bulk history and rule pages, with their role checks."""

from __future__ import annotations

import io
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.models import AutoTagRule, BulkOperation, ProfileTag, Tag, User
from crm_segments.schemas.auto_tag_rules import AutoTagRuleIn
from crm_segments.selection import targets as selection
from crm_segments.tagging.bulk import bulk_tag
from crm_segments.tagging.rules import create_rule
from tests.factories import ProfileFactory, ProfileTagFactory, QuoteFactory, TagFactory, UserFactory
from tests.tasks import follow_task

from .conftest import page_token
from .helpers import events, tagged_ids

CUSTOMER = {"field": "lifecycle_status", "op": "eq", "value": "customer"}


def _json_post(client: FlaskClient, url: str, token: str, body: dict[str, object]) -> object:
    return client.post(url, json=body, headers={"X-CSRFToken": token, "Accept": "application/json"})


def test_tags_page_lists_counts_and_creates(sales_client: FlaskClient, session: Session) -> None:
    tag = TagFactory(name="Golden", name_key="golden")
    ProfileTagFactory.create_batch(2, tag=tag)
    page = sales_client.get("/tags")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert ">Golden</span>" in text and 'href="/tags/bulk-operations"' in text
    assert "/tags/rules" not in text  # rules are for admins
    token = page_token(sales_client)
    created = sales_client.post("/tags", data={"name": " Spring  promo ", "color": "#123456",
                                               "description": "", "csrf_token": token})
    assert created.status_code == 302
    assert session.scalar(select(Tag.name).where(Tag.name_key == "spring promo")) == "Spring promo"
    duplicate = sales_client.post("/tags", data={"name": "GOLDEN", "color": "#123456", "csrf_token": token})
    assert duplicate.status_code == 422 and "already exists" in duplicate.get_data(as_text=True)


def test_sales_edit_but_only_admins_merge_and_delete(sales_client: FlaskClient, session: Session) -> None:
    tag, other = TagFactory(), TagFactory()
    token = page_token(sales_client, f"/tags/{tag.id}")
    saved = sales_client.post(f"/tags/{tag.id}", data={"name": "Renamed", "color": "#abcdef",
                                                       "description": "d", "csrf_token": token})
    session.refresh(tag)
    assert saved.status_code == 302 and tag.name == "Renamed" and tag.color == "#abcdef"
    bad = sales_client.post(f"/tags/{tag.id}", data={"name": "", "color": "red", "csrf_token": token})
    assert bad.status_code == 422 and "cannot be empty" in bad.get_data(as_text=True)
    assert sales_client.post(f"/tags/{tag.id}/merge", data={"target_id": other.id,
                                                            "csrf_token": token}).status_code == 403
    assert sales_client.get(f"/tags/{tag.id}/delete").status_code == 403


def test_admin_deletes_after_seeing_the_count(admin_client: FlaskClient, session: Session) -> None:
    tag = TagFactory(name="Doomed", name_key="doomed")
    tag_id = tag.id
    ProfileTagFactory.create_batch(3, tag=tag)
    confirm = admin_client.get(f"/tags/{tag.id}/delete")
    assert confirm.status_code == 200
    assert re.search(r'id="delete-total">3<', confirm.get_data(as_text=True))
    done = admin_client.post(f"/tags/{tag.id}/delete", data={"csrf_token": page_token(admin_client)})
    assert done.status_code == 302
    session.expire_all()
    assert session.get(Tag, tag_id) is None
    assert "removed from 3 records" in admin_client.get("/tags").get_data(as_text=True)


def test_admin_merges_tags(admin_client: FlaskClient, session: Session) -> None:
    source, target = TagFactory(), TagFactory()
    source_id = source.id
    profile = ProfileFactory()
    ProfileTagFactory(profile=profile, tag=source)
    token = page_token(admin_client, f"/tags/{source.id}")
    response = admin_client.post(f"/tags/{source.id}/merge",
                                 data={"target_id": target.id, "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/tags/{target.id}")
    session.expire_all()
    assert session.get(Tag, source_id) is None and tagged_ids(session, target) == {profile.id}


def test_editor_adds_and_removes_tags_as_json(sales_client: FlaskClient, sales_user: User,
                                              session: Session) -> None:
    profile = ProfileFactory()
    page = sales_client.get(f"/profiles/{profile.id}")
    text = page.get_data(as_text=True)
    assert 'class="tag-editor"' in text and "Tag history" in text and "tags.js" in text
    token = page_token(sales_client, f"/profiles/{profile.id}")
    added = _json_post(sales_client, f"/tags/entity/profile/{profile.id}/add", token, {"name": "Hot  lead"})
    assert added.status_code == 201 and added.json["tag"]["name"] == "Hot lead" and added.json["changed"]
    again = _json_post(sales_client, f"/tags/entity/profile/{profile.id}/add", token, {"name": "hot lead"})
    assert again.status_code == 200 and not again.json["changed"]
    tag_id = added.json["tag"]["id"]
    assert [e.user_id for e in events(session, profile_id=profile.id)] == [sales_user.id]
    history = sales_client.get(f"/profiles/{profile.id}").get_data(as_text=True)
    assert "Hot lead" in history and "Sam Sales" in history
    removed = _json_post(sales_client, f"/tags/entity/profile/{profile.id}/remove", token, {"tag_id": tag_id})
    assert removed.status_code == 200 and removed.json["changed"]
    assert session.get(ProfileTag, (profile.id, tag_id)) is None


def test_editor_errors_name_the_problem_and_csrf_is_required(sales_client: FlaskClient) -> None:
    profile = ProfileFactory()
    token = page_token(sales_client, f"/profiles/{profile.id}")
    bad = _json_post(sales_client, f"/tags/entity/profile/{profile.id}/add", token, {"name": "a,b"})
    assert bad.status_code == 422 and bad.json["error"]["fields"][0]["field"] == "tag"
    missing = _json_post(sales_client, "/tags/entity/quote/999999/add", token, {"name": "x"})
    assert missing.status_code == 404
    no_token = sales_client.post(f"/tags/entity/profile/{profile.id}/add", json={"name": "x"})
    assert no_token.status_code == 400


def test_editor_works_without_javascript_and_on_records(sales_client: FlaskClient, session: Session) -> None:
    quote = QuoteFactory(number="Q-TAGME")
    page = sales_client.get(f"/profiles/{quote.profile_id}").get_data(as_text=True)
    assert "Record tags" in page and "Q-TAGME" in page
    token = page_token(sales_client, f"/profiles/{quote.profile_id}")
    response = sales_client.post(f"/tags/entity/quote/{quote.id}/add",
                                 data={"name": "Urgent", "csrf_token": token, "next": "https://evil.example/"})
    assert response.status_code == 302 and response.headers["Location"] == f"/profiles/{quote.profile_id}"
    tag = session.scalars(select(Tag).where(Tag.name_key == "urgent")).one()
    assert tagged_ids(session, tag, "quote") == {quote.id}


def test_type_ahead_prefers_prefix_matches(sales_client: FlaskClient) -> None:
    for name in ("Big spender", "Spring", "Unspoken", "Other"):
        TagFactory(name=name, name_key=name.lower())
    found = sales_client.get("/tags/suggest?q=sp").json["tags"]
    assert [t["name"] for t in found] == ["Spring", "Big spender", "Unspoken"]


def test_bulk_bar_tags_the_filtered_list_and_undo_from_history(sales_client: FlaskClient, sales_user: User,
                                                               session: Session) -> None:
    north = ProfileFactory.create_batch(3, region="North")
    ProfileFactory(region="South")
    listing = sales_client.get("/profiles?region=North")
    text = listing.get_data(as_text=True)
    assert 'id="bulk-tag-bar"' in text and f'data-profile-id="{north[0].id}"' in text
    token = page_token(sales_client, "/profiles")
    response = sales_client.post("/tags/bulk", data={
        "csrf_token": token, "scope": "filter", "region": "North", "q": "", "lifecycle": "",
        "tags": "North team, VIP", "action": "add", "next": "/profiles?region=North"})
    done = follow_task(sales_client, response)
    assert "Added &#39;North team&#39; to 3 profiles" in done and 'data-task-status="done"' in done
    op = session.scalars(select(BulkOperation)).one()
    assert op.created_by_id == sales_user.id and op.changed_count == 6
    history = sales_client.get("/tags/bulk-operations").get_data(as_text=True)
    assert "North team" in history and f"/tags/bulk-operations/{op.id}/undo" in history
    undone = sales_client.post(f"/tags/bulk-operations/{op.id}/undo", data={"csrf_token": token})
    assert undone.status_code == 302
    session.expire_all()
    assert session.scalar(select(ProfileTag)) is None and op.undone_at is not None
    twice = sales_client.post(f"/tags/bulk-operations/{op.id}/undo", data={"csrf_token": token},
                              follow_redirects=True)
    assert "already undone" in twice.get_data(as_text=True)


def test_bulk_selected_rows_and_refusals(sales_client: FlaskClient, session: Session) -> None:
    chosen = ProfileFactory.create_batch(2)
    token = page_token(sales_client, "/profiles")
    ids = ",".join(str(p.id) for p in chosen)
    sales_client.post("/tags/bulk", data={"csrf_token": token, "scope": "selected", "ids": ids,
                                          "tags": "Picked", "action": "add"})
    tag = session.scalars(select(Tag).where(Tag.name_key == "picked")).one()
    assert tagged_ids(session, tag) == {p.id for p in chosen}
    refused = sales_client.post("/tags/bulk", data={"csrf_token": token, "tags": "X", "action": "add"},
                                follow_redirects=True)
    assert "Nothing was changed: scope" in refused.get_data(as_text=True)
    unknown = sales_client.post("/tags/bulk", data={"csrf_token": token, "scope": "selected", "ids": ids,
                                                    "tags": "Never made", "action": "remove"},
                                follow_redirects=True)
    assert "no tag named" in unknown.get_data(as_text=True)


def test_only_the_author_or_an_admin_may_undo(sales_client: FlaskClient, session: Session) -> None:
    other = UserFactory()
    profile = ProfileFactory()
    chosen = selection.by_ids(session=session, entity_type="profile", ids=[profile.id])
    tags = [TagFactory()]
    op = bulk_tag(session=session, action="add", tags=tags, user_id=other.id, selection=chosen).operation
    token = page_token(sales_client, "/tags/bulk-operations")
    undo_url = f"/tags/bulk-operations/{op.id}/undo"
    assert undo_url not in sales_client.get("/tags/bulk-operations").get_data(as_text=True)
    assert sales_client.post(undo_url, data={"csrf_token": token}).status_code == 403


def test_csv_upload_reports_lines_and_applies_nothing_when_refused(sales_client: FlaskClient,
                                                                  session: Session) -> None:
    ProfileFactory(email="known@example.com")
    token = page_token(sales_client, "/tags/bulk/csv")
    refused = sales_client.post("/tags/bulk/csv", content_type="multipart/form-data", data={
        "csrf_token": token, "action": "add", "tags": "Fair 2025",
        "file": (io.BytesIO(b"email\nknown@example.com\nunknown@example.com\nbad\n"), "fair.csv")})
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "fair.csv was refused" in text and "<td>3</td>" in text and "<td>4</td>" in text
    assert session.scalar(select(ProfileTag)) is None and session.scalar(select(BulkOperation)) is None
    accepted = sales_client.post("/tags/bulk/csv", content_type="multipart/form-data", data={
        "csrf_token": token, "action": "add", "tags": "Fair 2025",
        "file": (io.BytesIO(b"email\nknown@example.com\n"), "fair.csv")})
    assert accepted.status_code == 302
    assert session.scalar(select(BulkOperation.selection_kind)) == "csv"


def test_rule_pages_are_for_admins(sales_client: FlaskClient) -> None:
    assert sales_client.get("/tags/rules").status_code == 403
    assert sales_client.get("/tags/rules/new").status_code == 403


def test_admin_edits_a_rule_with_errors_shown_dry_runs_and_runs_it(admin_client: FlaskClient,
                                                                  session: Session) -> None:
    rule = create_rule(session=session, data=AutoTagRuleIn(
        name="Customers", condition=CUSTOMER, tag="Customer", mode="live"))
    ProfileFactory.create_batch(2, lifecycle_status="customer")
    assert "Customers" in admin_client.get("/tags/rules").get_data(as_text=True)
    token = page_token(admin_client, f"/tags/rules/{rule.id}")
    form = {"csrf_token": token, "name": "Customers", "description": "", "entity_type": "profile",
            "tag": "Customer", "mode": "live", "enabled": "y"}
    broken = admin_client.post(f"/tags/rules/{rule.id}", data={**form, "condition": "{not json"})
    assert broken.status_code == 422 and "is not valid JSON" in broken.get_data(as_text=True)
    unknown = admin_client.post(f"/tags/rules/{rule.id}",
                                data={**form, "condition": '{"field": "shoe_size", "op": "eq", "value": 1}'})
    assert unknown.status_code == 422 and "condition.field" in unknown.get_data(as_text=True)
    condition = '{"field": "lifecycle_status", "op": "eq", "value": "customer"}'
    dry = admin_client.post(f"/tags/rules/{rule.id}", data={**form, "condition": condition, "dry_run": "1"})
    assert dry.status_code == 200
    assert re.search(r"<strong>2</strong> would gain", dry.get_data(as_text=True))
    assert session.scalar(select(ProfileTag)) is None
    queued = admin_client.post(f"/tags/rules/{rule.id}/run", data={"csrf_token": token})
    ran = follow_task(admin_client, queued)
    assert "2 tagged" in ran
    assert len(tagged_ids(session, rule.tag)) == 2


def test_admin_creates_a_rule(admin_client: FlaskClient, session: Session) -> None:
    token = page_token(admin_client, "/tags/rules/new")
    response = admin_client.post("/tags/rules/new", data={
        "csrf_token": token, "name": "Big quotes", "entity_type": "quote", "tag": "Big quote",
        "mode": "sticky", "enabled": "y", "condition": '{"field": "total", "op": "gte", "value": 5000}'})
    assert response.status_code == 302
    rule = session.scalars(select(AutoTagRule)).one()
    assert (rule.entity_type, rule.tag.name, rule.enabled) == ("quote", "Big quote", True)


def test_the_rule_editor_names_every_bad_field_at_once_as_the_api_does(admin_client: FlaskClient,
                                                                       session: Session) -> None:
    token = page_token(admin_client, "/tags/rules/new")
    response = admin_client.post("/tags/rules/new", data={
        "csrf_token": token, "name": "  ", "entity_type": "quote", "tag": "Big quote", "mode": "sometimes",
        "condition": "{not json"})
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "give a name of 1 to 120 characters" in text and "is not valid JSON" in text
    assert "must be sticky (only adds) or live (adds and removes)" in text
    assert session.scalar(select(AutoTagRule)) is None


@pytest.mark.parametrize("url", ["/tags", "/tags/bulk-operations", "/tags/bulk/csv", "/tags/suggest?q=a"])
def test_signed_out_visitors_are_sent_to_sign_in(client: FlaskClient, url: str, backend: str) -> None:
    response = client.get(url)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_bulk_bar_on_a_tag_filtered_list_tags_only_that_list(sales_client: FlaskClient,
                                                            session: Session) -> None:
    marked = ProfileFactory.create_batch(2, region="North")
    unmarked = ProfileFactory(region="North")
    lead = TagFactory(name="Trade show lead")
    for profile in marked:
        ProfileTagFactory(profile=profile, tag=lead)
    token = page_token(sales_client, "/profiles")
    response = sales_client.post("/tags/bulk", data={
        "csrf_token": token, "scope": "filter", "region": "North", "q": "", "lifecycle": "",
        "tag": "trade show lead", "segment": "", "tags": "Follow up", "action": "add"})
    follow_task(sales_client, response)
    follow_up = session.scalars(select(Tag).where(Tag.name_key == "follow up")).one()
    assert tagged_ids(session, follow_up) == {p.id for p in marked}
    assert unmarked.id not in tagged_ids(session, follow_up)

"""Built-in tags are changed by admins only; a request names a bounded number of tags and a person
creates a bounded number of new tags a minute (UI and API)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crm_segments.accounts import users
from crm_segments.config import DEFAULT_TAGS_PER_REQUEST, ConfigError, settings_from_config
from crm_segments.db import Base, make_engine, make_session_factory, utcnow
from crm_segments.kernel.errors import Forbidden, RateLimited, ValidationFailed
from crm_segments.models import AutoTagRule, Tag, User
from crm_segments.schemas.tags import TagIn, TagPatch
from crm_segments.state import get_state
from crm_segments.tagging.management import create_tag, update_tag
from crm_segments.tagging.names import get_or_create_tag, get_or_create_tags
from crm_segments.tagging.shipped import SHIPPED_RULES, install_shipped_rules
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail
from tests.factories import ProfileFactory, TagFactory, UserFactory
from tests.web.api.conftest import Api

from .conftest import page_token


def _api(client: FlaskClient, session: Session, role: str) -> Api:
    user = UserFactory(role=role)
    return Api(client, users.create_api_key(session=session, email=user.email, name=role)[1])


def _tag_count(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(Tag)) or 0)


def _limit(app: Flask, per_minute: int | None) -> None:
    state = get_state(app)
    state.settings = dataclasses.replace(state.settings, tags_per_user_per_minute=per_minute)


@pytest.fixture
def builtin(session: Session) -> Tag:
    return TagFactory(name="High value", name_key="high value", is_builtin=True)


# Built-in tags

def test_shipped_rules_make_their_tags_builtin(session: Session) -> None:
    install_shipped_rules(session)
    names = {t.name for t in session.scalars(select(Tag).where(Tag.is_builtin))}
    assert names == {shipped.tag for shipped in SHIPPED_RULES}
    rule_tags = set(session.scalars(select(AutoTagRule.tag_id).where(AutoTagRule.is_builtin)))
    assert rule_tags == set(session.scalars(select(Tag.id).where(Tag.is_builtin)))


def test_only_an_admin_changes_a_builtin_tag(session: Session, builtin: Tag) -> None:
    with pytest.raises(Forbidden, match="built-in"):
        update_tag(session=session, tag_id=builtin.id, data=TagPatch(name="Big spenders"))
    assert builtin.name == "High value"
    update_tag(session=session, tag_id=builtin.id, data=TagPatch(name="Big spenders"), by_admin=True)
    assert builtin.name == "Big spenders"
    other = TagFactory()
    assert update_tag(session=session, tag_id=other.id, data=TagPatch(color="#000000")).color == "#000000"


def test_api_refuses_a_sales_key_changing_a_builtin_tag(client: FlaskClient, session: Session,
                                                        builtin: Tag) -> None:
    sales, admin = _api(client, session, "sales"), _api(client, session, "admin")
    refused = sales.patch(f"/tags/{builtin.id}", json={"name": "Renamed"})
    assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"
    assert "built-in" in refused.json["error"]["message"]
    session.expire_all()
    assert session.get(Tag, builtin.id).name == "High value"  # type: ignore[union-attr]
    assert sales.get(f"/tags/{builtin.id}").json["is_builtin"] is True
    changed = admin.patch(f"/tags/{builtin.id}", json={"name": "Renamed"})
    assert changed.status_code == 200 and changed.json["name"] == "Renamed"
    own = sales.post("/tags", json={"name": "Mine"}).json
    assert own["is_builtin"] is False
    assert sales.patch(f"/tags/{own['id']}", json={"color": "#111111"}).status_code == 200


def test_tag_page_refuses_a_sales_user_changing_a_builtin_tag(sales_client: FlaskClient, session: Session,
                                                              builtin: Tag) -> None:
    page = sales_client.get(f"/tags/{builtin.id}").get_data(as_text=True)
    assert 'id="builtin-tag"' in page and f'action="/tags/{builtin.id}"' not in page
    token = page_token(sales_client)
    refused = sales_client.post(f"/tags/{builtin.id}", data={
        "csrf_token": token, "name": "Renamed", "color": "#000000", "description": ""})
    assert refused.status_code == 403
    session.expire_all()
    assert session.get(Tag, builtin.id).name == "High value"  # type: ignore[union-attr]
    listing = sales_client.get("/tags").get_data(as_text=True)
    assert ">built-in</span>" in listing


def test_tag_page_lets_an_admin_change_a_builtin_tag(admin_client: FlaskClient, session: Session,
                                                     builtin: Tag) -> None:
    page = admin_client.get(f"/tags/{builtin.id}").get_data(as_text=True)
    assert f'action="/tags/{builtin.id}"' in page and 'id="builtin-tag"' not in page
    saved = admin_client.post(f"/tags/{builtin.id}", data={
        "csrf_token": page_token(admin_client), "name": "Renamed", "color": "#000000", "description": ""})
    assert saved.status_code == 302
    session.expire_all()
    assert session.get(Tag, builtin.id).name == "Renamed"  # type: ignore[union-attr]


# Tags per request

def test_one_request_names_at_most_the_limit_of_tags(session: Session) -> None:
    user = UserFactory()
    names = [f"t{i}" for i in range(DEFAULT_TAGS_PER_REQUEST + 1)]
    with pytest.raises(ValidationFailed, match=f"at most {DEFAULT_TAGS_PER_REQUEST} tags"):
        get_or_create_tags(session=session, names=names, created_by_id=user.id)
    assert _tag_count(session) == 0
    assert len(get_or_create_tags(session=session, names=names[:DEFAULT_TAGS_PER_REQUEST],
                                  created_by_id=user.id, per_minute=None)) == DEFAULT_TAGS_PER_REQUEST


def test_bulk_bodies_and_the_bulk_bar_refuse_thousands_of_tags(client: FlaskClient, sales_client: FlaskClient,
                                                               session: Session) -> None:
    profile = ProfileFactory()
    names = [f"spam {i}" for i in range(10_000)]
    body = {"action": "add", "tags": names, "ids": [profile.id]}
    refused = _api(client, session, "sales").post("/bulk-tag-operations", json=body)
    assert refused.status_code == 422 and refused.json["error"]["fields"][0]["field"] == "tags"
    token = page_token(sales_client, "/profiles")
    bar = sales_client.post("/tags/bulk", data={
        "csrf_token": token, "scope": "selected", "ids": str(profile.id), "tags": ", ".join(names),
        "action": "add", "next": "/profiles"}, follow_redirects=True)
    assert f"at most {DEFAULT_TAGS_PER_REQUEST} tags at once" in bar.get_data(as_text=True)
    assert _tag_count(session) == 0


# New tags per person per minute

def test_new_tags_a_minute_are_counted_per_person_from_their_tags(session: Session) -> None:
    ada, bob = UserFactory(), UserFactory()
    for name in ("a", "b", "c"):
        create_tag(session=session, data=TagIn(name=name), user_id=ada.id, per_minute=3)
    with pytest.raises(RateLimited) as refused:
        create_tag(session=session, data=TagIn(name="d"), user_id=ada.id, per_minute=3)
    assert 1 <= refused.value.retry_after <= 60 and "at most 3 new tags a minute" in refused.value.message
    with pytest.raises(RateLimited):
        get_or_create_tag(session=session, name="e", created_by_id=ada.id, per_minute=3)
    # Existing tags are not creations; another person and the product itself have their own counts.
    assert get_or_create_tags(session=session, names=["A", "b"], created_by_id=ada.id, per_minute=3)
    create_tag(session=session, data=TagIn(name="f"), user_id=bob.id, per_minute=3)
    get_or_create_tag(session=session, name="g", created_by_id=None, per_minute=3)
    # Creations older than a minute no longer count.
    session.execute(update(Tag).where(Tag.created_by_id == ada.id)
                    .values(created_at=utcnow() - dt.timedelta(seconds=61)))
    assert create_tag(session=session, data=TagIn(name="d"), user_id=ada.id, per_minute=3).name == "d"


def test_several_new_tags_in_one_request_are_all_or_nothing(session: Session) -> None:
    user = UserFactory()
    create_tag(session=session, data=TagIn(name="one"), user_id=user.id, per_minute=3)
    with pytest.raises(RateLimited, match="this would add 3"):
        get_or_create_tags(session=session, names=["one", "two", "three", "four"], created_by_id=user.id,
                           per_minute=3)
    assert _tag_count(session) == 1


def test_api_answers_429_past_the_limit_and_writes_nothing(app: Flask, client: FlaskClient,
                                                           session: Session) -> None:
    _limit(app, 2)
    sales = _api(client, session, "sales")
    profile = ProfileFactory()
    assert sales.post("/tags", json={"name": "one"}).status_code == 201
    assert sales.post(f"/profiles/{profile.id}/tags", json={"name": "two"}).status_code == 201
    for refused in (sales.post("/tags", json={"name": "three"}),
                    sales.post(f"/profiles/{profile.id}/tags", json={"name": "three"}),
                    sales.post("/bulk-tag-operations", json={"action": "add", "tags": ["three"],
                                                             "ids": [profile.id]})):
        assert refused.status_code == 429 and refused.json["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert _tag_count(session) == 2
    # Tagging with existing tags goes on.
    assert sales.post("/bulk-tag-operations", json={"action": "add", "tags": ["one", "two"],
                                                    "ids": [profile.id]}).status_code == 201


def test_pages_refuse_past_the_limit(app: Flask, sales_client: FlaskClient, sales_user: User,
                                     session: Session) -> None:
    _limit(app, 1)
    profile = ProfileFactory()
    token = page_token(sales_client)
    assert sales_client.post("/tags", data={"csrf_token": token, "name": "first", "color": "#123456",
                                            "description": ""}).status_code == 302
    page = sales_client.post("/tags", data={"csrf_token": token, "name": "second", "color": "#123456",
                                            "description": ""})
    assert page.status_code == 429 and "at most 1 new tags a minute" in page.get_data(as_text=True)
    editor = sales_client.post(f"/tags/entity/profile/{profile.id}/add", json={"name": "second"},
                               headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert editor.status_code == 429 and "a minute" in editor.json["error"]["message"]
    bar = sales_client.post("/tags/bulk", data={
        "csrf_token": token, "scope": "selected", "ids": str(profile.id), "tags": "second",
        "action": "add", "next": "/profiles"}, follow_redirects=True)
    assert "Nothing was changed: at most 1 new tags a minute" in bar.get_data(as_text=True)
    assert _tag_count(session) == 1
    _limit(app, None)  # "none" turns the limit off
    assert sales_client.post("/tags", data={"csrf_token": token, "name": "second", "color": "#123456",
                                            "description": ""}).status_code == 302


def test_the_limit_is_a_setting() -> None:
    base = {"CRM_SEGMENTS_DATABASE_URL": "sqlite://"}
    assert settings_from_config(base).tags_per_user_per_minute == 30
    given = {**base, "CRM_SEGMENTS_TAGS_PER_USER_PER_MINUTE": "5"}
    assert settings_from_config(given).tags_per_user_per_minute == 5
    off = {**base, "CRM_SEGMENTS_TAGS_PER_USER_PER_MINUTE": "none"}
    assert settings_from_config(off).tags_per_user_per_minute is None
    with pytest.raises(ConfigError, match="CRM_SEGMENTS_TAGS_PER_USER_PER_MINUTE"):
        settings_from_config({**base, "CRM_SEGMENTS_TAGS_PER_USER_PER_MINUTE": "0"})


def _settings(app: Flask, **changes: object) -> None:
    state = get_state(app)
    state.settings = dataclasses.replace(state.settings, **changes)  # type: ignore[arg-type]


def test_tags_per_request_is_a_setting(app: Flask, client: FlaskClient, sales_client: FlaskClient,
                                       session: Session) -> None:
    base = {"CRM_SEGMENTS_DATABASE_URL": "sqlite://"}
    assert settings_from_config(base).tags_per_request == DEFAULT_TAGS_PER_REQUEST
    assert settings_from_config({**base, "CRM_SEGMENTS_TAGS_PER_REQUEST": "5"}).tags_per_request == 5
    for bad in ("0", "101", "none"):
        with pytest.raises(ConfigError, match="CRM_SEGMENTS_TAGS_PER_REQUEST"):
            settings_from_config({**base, "CRM_SEGMENTS_TAGS_PER_REQUEST": bad})
    _settings(app, tags_per_request=2)
    profile = ProfileFactory()
    for name in "xyz":
        TagFactory(name=name, name_key=name)
    sales = _api(client, session, "sales")
    for action in ("add", "remove"):
        refused = sales.post("/bulk-tag-operations", json={"action": action, "tags": ["x", "y", "z"],
                                                           "ids": [profile.id]})
        assert refused.status_code == 422
        message = "at most 2 tags at once (this request names 3)"
        assert refused.json["error"]["fields"] == [{"field": "tags", "message": message}]
    bar = sales_client.post("/tags/bulk", data={
        "csrf_token": page_token(sales_client, "/profiles"), "scope": "selected", "ids": str(profile.id),
        "tags": "x, y, z", "action": "add", "next": "/profiles"}, follow_redirects=True)
    assert "at most 2 tags at once" in bar.get_data(as_text=True)
    assert sales.post("/bulk-tag-operations", json={"action": "add", "tags": ["x", "y"],
                                                    "ids": [profile.id]}).status_code == 201


def test_auto_tag_rules_naming_new_tags_count_against_the_limit(app: Flask, client: FlaskClient,
                                                                admin_client: FlaskClient,
                                                                session: Session) -> None:
    _limit(app, 1)
    admin = _api(client, session, "admin")
    condition = {"field": "lifecycle_status", "op": "eq", "value": "customer"}
    made = admin.post("/auto-tag-rules", json={"name": "R1", "entity_type": "profile", "condition": condition,
                                               "tag": "Brand new"})
    assert made.status_code == 201
    refused = admin.post("/auto-tag-rules", json={"name": "R2", "entity_type": "profile",
                                                  "condition": condition, "tag": "Another new"})
    assert refused.status_code == 429 and refused.json["error"]["code"] == "rate_limited"
    patched = admin.patch(f"/auto-tag-rules/{made.json['id']}", json={"tag": "Another new"})
    assert patched.status_code == 429
    # The page: the admin signed in there is another person with their own count.
    token = page_token(admin_client, "/tags/rules/new")
    form = {"csrf_token": token, "name": "R3", "description": "", "entity_type": "profile", "mode": "sticky",
            "enabled": "y", "condition": json.dumps(condition)}
    assert admin_client.post("/tags/rules/new", data={**form, "tag": "Page new"}).status_code == 302
    page = admin_client.post("/tags/rules/new", data={**form, "name": "R4", "tag": "Page newer"})
    assert page.status_code == 429 and "at most 1 new tags a minute" in page.get_data(as_text=True)
    session.expire_all()
    assert set(session.scalars(select(AutoTagRule.name))) == {"R1", "R3"}
    assert _tag_count(session) == 2


# The per-minute limit under concurrent requests: real commits on separate connections.

WORKERS, PER_MINUTE = 6, 5


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tags.db'}"
        return
    if reason := postgres_reachable():
        skip_or_fail(reason)
    with private_postgres_database() as url:
        yield url


def test_concurrent_requests_of_one_person_stay_within_the_limit(fresh_database: str) -> None:
    engine = make_engine(fresh_database, pool_size=WORKERS + 1) if fresh_database.startswith("postgresql") \
        else make_engine(fresh_database)
    try:
        Base.metadata.create_all(engine)
        factory = make_session_factory(engine)
        with factory() as session, session.begin():
            user = User(email="busy@example.com", name="Busy", role="sales", password_hash="x")
            session.add(user)
            session.flush()
            user_id = user.id
        start = threading.Barrier(WORKERS)

        def create_two(worker: int) -> bool:
            """Two new tags in one transaction; False when refused."""
            with factory() as session:
                start.wait()
                try:
                    get_or_create_tags(session=session, names=[f"w{worker} a", f"w{worker} b"],
                                       created_by_id=user_id, per_minute=PER_MINUTE)
                except RateLimited:
                    session.rollback()
                    return False
                session.commit()
                return True

        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            done = list(pool.map(create_two, range(WORKERS)))
        with factory() as session:
            created = session.scalar(select(func.count()).where(Tag.created_by_id == user_id))
        # One at a time, two requests fit in five and the third would make six.
        assert done.count(True) == PER_MINUTE // 2 and created == 2 * (PER_MINUTE // 2)
    finally:
        engine.dispose()

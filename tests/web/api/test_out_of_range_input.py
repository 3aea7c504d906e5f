"""Bad input gets a clear 4xx and changes nothing: ids and cursors beyond what a store holds, the API's
own errors in its JSON shape, body size limits, text no store can keep, rules that could not run."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from crm_segments.config import ConfigError, config_from_env, settings_from_config
from crm_segments.models import AutoTagRule, Profile, Segment
from tests.factories import ProfileFactory

from .conftest import Api, count

HUGE = "9" * 25  # beyond 64 bits
JUST_OVER_64 = str(2**63)
JUST_OVER_32 = str(2**31)  # PostgreSQL integer keys
UI_PAGES = ["/profiles/{id}", "/segments/{id}", "/segments/{id}/export.csv", "/tags/{id}",
            "/workflows/{id}", "/messages/{id}", "/tags/rules/{id}", "/quotes/{id}"]
API_PATHS = ["/profiles/{id}", "/quotes/{id}", "/segments/{id}", "/segments/1/overlap/{id}", "/tags/{id}",
             "/workflows/{id}", "/messages/{id}", "/auto-tag-rules/{id}", "/profiles/{id}/tags"]


def _error(response: Any) -> dict[str, Any]:
    assert response.mimetype == "application/json", response.data[:200]
    error: dict[str, Any] = response.json["error"]
    return error


@pytest.mark.parametrize("big", [HUGE, JUST_OVER_64, JUST_OVER_32])
@pytest.mark.parametrize("page", UI_PAGES)
def test_ui_ids_beyond_any_store_are_not_found(admin_client: FlaskClient, page: str, big: str) -> None:
    assert admin_client.get(page.format(id=big)).status_code == 404


@pytest.mark.parametrize("big", [HUGE, JUST_OVER_64, JUST_OVER_32])
@pytest.mark.parametrize("path", API_PATHS)
def test_api_ids_beyond_any_store_are_json_404(api: Api, path: str, big: str) -> None:
    for method in ("get", "patch", "post", "delete"):
        response = getattr(api, method)(path.format(id=big), json={})
        assert response.status_code in (404, 405), (method, response.status_code)
        assert _error(response)["code"] in ("not_found", "method_not_allowed")
    response = api.get(path.format(id=big))
    assert response.status_code == 404 and _error(response)["code"] == "not_found"
    response = api.patch(path.format(id=big).replace("/tags", ""), json={})
    assert response.status_code == 404 and _error(response)["code"] == "not_found"


@pytest.mark.parametrize("cursor", [HUGE, JUST_OVER_64, JUST_OVER_32, "-1", "١٢"])
def test_ui_cursors_out_of_range_are_refused(admin_client: FlaskClient, cursor: str) -> None:
    for page in ("/profiles", "/quotes"):
        for name in ("after", "before"):
            response = admin_client.get(f"{page}?{name}={cursor}")
            assert response.status_code == 400 and name.encode() in response.data  # the form names it


@pytest.mark.parametrize("query", [f"after={HUGE}", f"after={JUST_OVER_64}", f"after={JUST_OVER_32}",
                                   "after=-5",
                                   f"profile_id={JUST_OVER_64}"])
def test_api_cursors_and_ids_in_the_query_out_of_range_are_422(api: Api, query: str) -> None:
    for path in ("/profiles", "/opportunities", "/messages"):
        if "profile_id" in query and path == "/profiles":
            continue
        response = api.get(f"{path}?{query}")
        assert response.status_code == 422, (path, response.data[:300])
        assert _error(response)["fields"][0]["field"] in ("after", "profile_id")


def test_ids_in_a_body_beyond_the_column_are_refused(api: Api, session: Session) -> None:
    before = count(session, Profile)
    response = api.post("/products", json={"external_id": "P", "name": "p", "sku": "s",
                                           "category_id": 2**63})
    assert response.status_code == 422 and _error(response)["fields"][0]["field"] == "category_id"
    response = api.post("/profiles", json={"external_id": "X", "company_size": 2**40})
    assert response.status_code == 422 and count(session, Profile) == before


def test_unknown_api_paths_and_wrong_methods_answer_json(api: Api, client: FlaskClient) -> None:
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404 and _error(missing)["code"] == "not_found"
    assert client.post("/api/v1/profiles/not-a-number", json={}).status_code == 404
    wrong = api.put("/profiles")
    assert wrong.status_code == 405 and _error(wrong)["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["Allow"]


def test_a_body_that_is_not_json_is_415(api: Api, session: Session) -> None:
    before = count(session, Profile)
    response = api.post("/profiles", data="external_id=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415 and _error(response)["code"] == "unsupported_media_type"
    assert count(session, Profile) == before


def test_a_json_body_over_the_limit_is_413_and_nothing_is_stored(api: Api, session: Session) -> None:
    before = count(session, Profile)
    blob = {"k": "x" * (1024 * 1024)}  # over the 1 MB default for JSON
    response = api.post("/profiles", json={"external_id": "big", "custom_attributes": blob})
    assert response.status_code == 413 and _error(response)["code"] == "request_entity_too_large"
    assert count(session, Profile) == before


def test_a_custom_attributes_blob_has_a_size_limit(api: Api, session: Session) -> None:
    before = count(session, Profile)
    response = api.post("/profiles", json={"external_id": "blob", "custom_attributes": {"k": "x" * 70_000}})
    assert response.status_code == 422 and _error(response)["fields"][0]["field"] == "custom_attributes"
    assert "65536 bytes" in _error(response)["fields"][0]["message"]
    assert count(session, Profile) == before


def test_an_upload_over_the_limit_is_a_readable_413_page(app: Flask, admin_client: FlaskClient) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 2048
    response = admin_client.post("/import", data={"file": (io.BytesIO(b"x" * 4096), "big.csv")},
                                 content_type="multipart/form-data")
    assert response.status_code == 413
    assert b"Too large" in response.data and b"nothing was changed" in response.data


def test_size_limits_are_settings() -> None:
    config = config_from_env({"SECRET_KEY": "x" * 20, "CRM_SEGMENTS_MAX_UPLOAD_BYTES": "2048",
                              "CRM_SEGMENTS_MAX_JSON_BYTES": "4096"})
    settings = settings_from_config(config)
    assert (settings.max_upload_bytes, settings.max_json_bytes) == (2048, 4096)
    assert settings_from_config({}).max_json_bytes == 1024 * 1024
    with pytest.raises(ConfigError, match="CRM_SEGMENTS_MAX_JSON_BYTES"):
        settings_from_config({"CRM_SEGMENTS_MAX_JSON_BYTES": "lots"})


@pytest.mark.parametrize("text", ["a\x00b", "a\ud800b"])
def test_text_no_store_can_keep_is_refused_anywhere(api: Api, session: Session, text: str) -> None:
    before = count(session, Profile)
    response = api.post("/profiles", json={"external_id": "T", "custom_attributes": {"note": text}})
    assert response.status_code == 422
    assert _error(response)["fields"][0]["field"] == "body.custom_attributes.note"
    if "\x00" in text:  # a URL cannot carry an unpaired surrogate at all
        assert api.get("/profiles", query_string={"email": text}).status_code == 422
    assert count(session, Profile) == before


LEAF = '{"field": "region", "op": "eq", "value": "Yukon"}'
BAD_RULES = [
    ('{"field": "region", "op": "eq", "value": "a\\u0000"}', "rule.value"),
    ('{"field": "region", "op": "eq", "value": "a\\udc00"}', "rule.value"),
    ('{"records": "quotes", "count": {"op": "gte", "value": 100000000000000000000}}', "rule.count.value"),
    ('{"segment": 100000000000000000000}', "rule.segment"),
    (f'{{"segment": {2**31}}}', "rule.segment"),
    ('{"not": ' * 5000 + LEAF + "}" * 5000, None),
    ('{"not": ' * 200 + LEAF + "}" * 200, "rule"),
]


@pytest.mark.parametrize(("rule", "field"), BAD_RULES)
def test_rules_that_cannot_run_are_refused_and_not_stored(api: Api, session: Session, rule: str,
                                                          field: str | None) -> None:
    ProfileFactory()
    before = (count(session, Segment), count(session, AutoTagRule))
    posts = [("/segments", '{"name": "Bad", "rule": %s}', "rule"),
             ("/segments/preview", '{"rule": %s}', "rule"),
             ("/auto-tag-rules", '{"name": "Bad", "tag": "t", "condition": %s}', "condition")]
    for path, body, name in posts:
        response = api.post(path, data=body % rule, content_type="application/json")
        assert response.status_code in (400, 422), (path, response.status_code, response.data[:300])
        if field is not None:  # named where it is, whichever check found it first
            wanted = field.replace("rule", name, 1)
            named = [f["field"] for f in _error(response)["fields"]]
            assert any(n in (wanted, f"body.{wanted}") or n.startswith(wanted) for n in named), named
    assert (count(session, Segment), count(session, AutoTagRule)) == before


def test_a_failing_query_preview_is_422_without_the_database_text(api: Api, backend: str) -> None:
    response = api.post("/segments/preview", json={"query_sql": "SELECT 1 / 0 FROM crm_profiles"
                                                                 " WHERE email = 'secret@example.com'"})
    if backend == "sqlite":  # SQLite divides by zero into NULL: no error, no rows
        assert response.status_code == 200
        return
    assert response.status_code == 422, response.data[:300]
    error = _error(response)
    assert error["fields"][0]["field"] == "query_sql"
    assert "division by zero" in error["message"] and "22012" in error["message"]
    assert "secret@example.com" not in response.get_data(as_text=True)


@pytest.mark.parametrize("message_id", [10**23, 2**31, 0])
def test_closing_unconfirmed_messages_by_ids_no_row_can_have_is_refused_naming_them(api: Api,
                                                                                    message_id: int) -> None:
    response = api.post("/messages/unconfirmed/close", json={"ids": [1, message_id]})
    assert response.status_code == 422
    assert [f["field"] for f in _error(response)["fields"]] == ["ids[1]"]

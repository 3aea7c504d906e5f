"""The OpenAPI description matches the registered routes and the real responses."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from sqlalchemy.orm import Session

from tests.factories import CategoryFactory, ProductFactory, ProfileFactory

from .conftest import Api
from .test_resources import CASES

IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    spec: dict[str, Any] = client.get("/api/v1/openapi.json").json
    return spec


def _operations_in_spec(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in spec["paths"].items() for method in item}


def _operations_in_app(app: Flask) -> set[tuple[str, str]]:
    prefix = "/api/v1"
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("crm_api."):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule).removeprefix(prefix)
        found |= {(path, method) for method in (rule.methods or ()) if method not in IGNORED_METHODS}
    return found


def test_spec_is_valid_openapi_3_1(spec: dict[str, Any], backend: str) -> None:
    assert spec["openapi"] == "3.1.0"
    validate_spec(spec)


def test_every_route_is_described_and_nothing_else(app: Flask, spec: dict[str, Any], backend: str) -> None:
    in_app = _operations_in_app(app)
    # seven operations for seven record types, the description itself, and other domains' endpoints
    assert len(in_app) >= 7 * 7 + 1
    assert _operations_in_spec(spec) == in_app


def test_server_url_follows_the_mount_point(spec: dict[str, Any], backend: str) -> None:
    assert spec["servers"] == [{"url": "/api/v1"}]


def _validator(spec: dict[str, Any], path: str, method: str, status: int) -> Draft202012Validator:
    content = spec["paths"][path][method]["responses"][str(status)]["content"]
    schema = {**content["application/json"]["schema"], "components": spec["components"]}
    return Draft202012Validator(schema)


def _request_validator(spec: dict[str, Any], path: str, method: str) -> Draft202012Validator:
    schema = spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": spec["components"]})


@pytest.mark.parametrize("name", list(CASES))
def test_real_responses_match_the_spec(api: Api, spec: dict[str, Any], session: Session, name: str) -> None:
    category = CategoryFactory(external_id="CAT-1")
    ProfileFactory(external_id="P-1")
    ProductFactory(sku="SKU-1", category=category)
    body = {"external_id": "X-1", **CASES[name][0]}
    _request_validator(spec, f"/{name}", "post").validate(body)

    created = api.post(f"/{name}", json=body)
    _validator(spec, f"/{name}", "post", 201).validate(created.json)
    listed = api.get(f"/{name}")
    _validator(spec, f"/{name}", "get", 200).validate(listed.json)
    assert listed.json["items"]
    batch = api.post(f"/{name}/batch-upsert", json={"items": [{"external_id": "X-1"}]})
    _validator(spec, f"/{name}/batch-upsert", "post", 200).validate(batch.json)


def test_error_responses_match_the_spec(api: Api, spec: dict[str, Any], backend: str) -> None:
    refused = api.post("/profiles", json={"external_id": "A", "email": "bad"})
    assert refused.status_code == 422
    _validator(spec, "/profiles", "post", 422).validate(refused.json)
    missing = api.get("/profiles/424242")
    _validator(spec, "/profiles/{id}", "get", 404).validate(missing.json)


def test_schemas_list_the_model_enums(spec: dict[str, Any], backend: str) -> None:
    status = spec["components"]["schemas"]["QuoteCreate"]["properties"]["status"]
    assert status["enum"] == ["draft", "sent", "accepted", "declined", "expired"]

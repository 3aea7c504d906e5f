"""The API fuzzed against its own OpenAPI description, on both stores, with an admin's and a sales key.

Every generated request, valid or not, must get an answer the description lists (status code, content
type and body schema) and never a server error. Derandomized with a bounded number of examples, so a
run is deterministic and takes a couple of minutes.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session

from crm_segments.accounts import users
from crm_segments.web.api import api_routes
from crm_segments.web.api.openapi import build_spec
from tests.factories import ProfileFactory, UserFactory

MAX_EXAMPLES = 3  # per operation and store, each sent with both keys
SPEC = build_spec(api_routes(), server_url="/api/v1")
schema = schemathesis.openapi.from_dict(SPEC)
# The coverage phase's boundary cases cost seconds per operation; ids and cursors at and beyond the
# stores' limits are tested one by one in test_out_of_range_input.py instead.
schema.config.phases.coverage.enabled = False
CHECKS = [schemathesis.checks.not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def test_the_fuzzed_description_is_the_one_the_app_serves(client: FlaskClient) -> None:
    assert client.get("/api/v1/openapi.json").json == SPEC


@pytest.fixture
def key_headers(session: Session) -> list[dict[str, str]]:
    """An admin's and a sales person's key; every generated request is sent with each."""
    headers = []
    for role in ("admin", "sales"):
        user = UserFactory(role=role)
        secret = users.create_api_key(session=session, email=user.email, name=f"{role} key")[1]
        headers.append({"Authorization": f"Bearer {secret}"})
    ProfileFactory()  # something to find, change and tag
    return headers


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_answers_within_its_description(case: Any, app: Flask, key_headers: list[dict[str, str]]) -> None:
    for headers in key_headers:
        case.call_and_validate(app=app, headers=headers, checks=CHECKS)

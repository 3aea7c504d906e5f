"""The OpenAPI 3.1 description, generated from the route table and the pydantic schemas that the
endpoints themselves use, so it cannot drift from what the API does."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from flask import Response, jsonify, url_for
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .envelopes import ErrorBody
from .routes import Route

Mode = Literal["validation", "serialization"]
REF = "#/components/schemas/{model}"
_RULE_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")
_CONVERTER_TYPES = {"int": "integer"}
ERROR_DESCRIPTIONS = {
    400: "The body is not valid JSON",
    401: "No API key, or an unknown or revoked one",
    403: "The API key's user may not do this (e.g. changing workflows needs an admin's key)",
    404: "No such record",
    409: "A unique field (external_id, number, sku, name) is already taken, or (code in_use) what is "
         "being deleted is used: used_by lists every workflow, segment and auto-tag rule that uses it",
    413: "The body is larger than the server accepts (CRM_SEGMENTS_MAX_JSON_BYTES, default 1 MB)",
    415: "The body is not sent as application/json",
    422: "Validation failed; each error names its field and nothing was written",
    429: "Too many in too short a time (e.g. new tags per person per minute); Retry-After says when to "
         "try again, and nothing was written",
}


def openapi_path(rule: str) -> str:
    """Flask's "/quotes/<int:id>" -> OpenAPI's "/quotes/{id}"."""
    return _RULE_PARAM.sub(lambda m: "{" + m.group(2) + "}", rule)


def build_spec(routes: Sequence[Route], *, server_url: str) -> dict[str, Any]:
    wanted: dict[tuple[type[BaseModel], Mode], None] = {(ErrorBody, "serialization"): None}
    for route in routes:
        if route.body is not None:
            wanted[(route.body, "validation")] = None
        if route.out is not None:
            wanted[(route.out, "serialization")] = None
    refs, definitions = models_json_schema(list(wanted), ref_template=REF)

    def ref(model: type[BaseModel], mode: Mode) -> dict[str, Any]:
        return dict(refs[(model, mode)])

    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(openapi_path(route.rule), {})[route.method.lower()] = _operation(route, ref)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "crm-segments API",
            "version": "1",
            "description": "Push CRM profiles and their records. Money is a decimal string; "
                           "timestamps must carry a time zone (naive ones are refused).",
        },
        "servers": [{"url": server_url}],
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer",
                           "description": "A key made by `crm-segments create-api-key`."},
            },
        },
    }


def _operation(route: Route, ref: Any) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.endpoint, "summary": route.summary, "tags": [route.tag],
        "parameters": _path_parameters(route.rule) + _query_parameters(route.query),
        "responses": {},
    }
    if route.public:
        operation["security"] = []
    if route.body is not None:
        operation["requestBody"] = {
            "required": True, "content": {"application/json": {"schema": ref(route.body, "validation")}},
        }
    for status in route.ok:
        response: dict[str, Any] = {"description": "No content" if status == 204 else "Success"}
        if status != 204:
            schema = ref(route.out, "serialization") if route.out else {"type": "object"}
            response["content"] = {"application/json": {"schema": schema}}
        operation["responses"][str(status)] = response
    errors = set(route.errors) if set(route.roles) >= {"admin", "sales"} or 403 in route.errors \
        else {*route.errors, 403}
    # What any route can answer for what it takes: a path id that names nothing, a refused query, a body
    # that is not JSON, too large, or invalid.
    if _RULE_PARAM.search(route.rule):
        errors.add(404)
    if route.query:
        errors.add(422)
    if route.body is not None:
        errors |= {400, 413, 415, 422}
    if not route.public and route.roles != ("admin", "sales"):
        operation["description"] = f"Needs the API key of: {', '.join(route.roles)}."
    for status in sorted(errors):
        operation["responses"][str(status)] = {
            "description": ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"schema": ref(ErrorBody, "serialization")}},
        }
    return operation


def _path_parameters(rule: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": _CONVERTER_TYPES.get(converter, "string")}}
        for converter, name in _RULE_PARAM.findall(rule)
    ]


def _query_parameters(models: Sequence[type[BaseModel]]) -> list[dict[str, Any]]:
    parameters = []
    for model in models:
        schema = model.model_json_schema(ref_template=REF)
        for name, prop in schema.get("properties", {}).items():
            parameter = {"name": name, "in": "query", "required": name in schema.get("required", ()),
                         "schema": {k: v for k, v in prop.items() if k != "description"}}
            if "description" in prop:
                parameter["description"] = prop["description"]
            parameters.append(parameter)
    return parameters


def openapi_route(routes: Sequence[Route]) -> Route:
    def view() -> Response:
        server = url_for("crm_api.openapi").removesuffix("/openapi.json")
        return jsonify(build_spec(routes, server_url=server))

    return Route("/openapi.json", "GET", "openapi", view, "This OpenAPI description", "meta",
                 public=True, errors=())

"""The route table: one list of ``Route`` registers the endpoints and generates the OpenAPI description."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, request
from pydantic import BaseModel
from werkzeug.exceptions import UnsupportedMediaType

from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.kernel.json_text import parse_json
from crm_segments.kernel.storable_text import PROBLEM, unstorable_paths

from .errors import BadBody

MAX_REPORTED = 20  # errors named in one answer


@dataclass(frozen=True)
class Route:
    rule: str                                  # Flask rule relative to the API prefix
    method: str
    endpoint: str
    view: Callable[..., Any]
    summary: str
    tag: str
    body: type[BaseModel] | None = None        # request body schema
    ok: tuple[int, ...] = (200,)               # success statuses
    out: type[BaseModel] | None = None         # response schema of a success
    query: tuple[type[BaseModel], ...] = ()    # query-string schemas
    errors: tuple[int, ...] = (401,)           # error statuses it can answer with
    public: bool = False                       # no API key needed
    roles: tuple[str, ...] = ("admin", "sales")  # whose API keys may call it; others get 403


ADMIN_ONLY = ("admin",)


def register_routes(bp: Blueprint, routes: Sequence[Route]) -> None:
    for route in routes:
        bp.add_url_rule(route.rule, endpoint=route.endpoint, view_func=route.view, methods=[route.method])


def json_body() -> Any:
    """The parsed JSON body; BadBody names what is wrong. A body sent without a Content-Type is read as
    JSON; one that says it is something else (a form, text) is refused with 415."""
    if request.content_type and not (request.mimetype == "application/json"
                                     or request.mimetype.endswith("+json")):
        raise UnsupportedMediaType(f"send the body as application/json, not {request.mimetype}")
    raw = request.get_data(as_text=False)
    if not raw.strip():
        raise BadBody("the request body is empty; send a JSON object")
    try:
        body = parse_json(raw)
    except ValueError as exc:
        raise BadBody(f"the request body is not valid JSON: {exc}") from None
    if bad := list(unstorable_paths(body))[:MAX_REPORTED]:
        raise ValidationFailed([FieldError(path, PROBLEM) for path in bad])
    return body


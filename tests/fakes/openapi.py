"""Check a request received by a fake provider against the provider's published OpenAPI definition.

The fakes listen on 127.0.0.1, so the request is presented to openapi-core as if it had reached the
provider's own server URL (the first ``servers`` entry of the definition).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl

from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.exceptions import OpenAPIError
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPECS_DIR = Path(__file__).resolve().parent / "specs"


@dataclass
class SpecRequest:
    """The request shape openapi-core validates (its ``openapi_core.protocols.Request``)."""

    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters


def _mailbox(value: object) -> bool:
    """JSON Schema's ``email`` format is RFC 5321's Mailbox, ASCII only (``idn-email`` is the other);
    jsonschema's own check only looks for an @, so a non-ASCII address would pass where the provider
    refuses it."""
    if not isinstance(value, str):
        return True
    local, at, domain = value.rpartition("@")
    return value.isascii() and bool(at and local and domain)


@cache
def load_spec(file_name: str) -> OpenAPI:
    # json.load rather than openapi-core's YAML reader: the Twilio file has JSON-only escapes.
    with (SPECS_DIR / file_name).open(encoding="utf-8") as handle:
        spec = json.load(handle)
    return OpenAPI.from_dict(spec, config=Config(extra_format_validators={"email": _mailbox}))


def server_url(spec: OpenAPI) -> str:
    return str(spec.spec["servers"][0]["url"])


def request_errors(spec: OpenAPI, *, method: str, path: str, query: str, headers: Headers,
                   body: bytes) -> str | None:
    """None when the request matches the definition, else what is wrong with it."""
    query_args = ImmutableMultiDict(parse_qsl(query, keep_blank_values=True))
    request = SpecRequest(
        host_url=server_url(spec), path=path, method=method.lower(), body=body or None,
        content_type=(headers.get("Content-Type") or "").lower(),
        parameters=RequestParameters(query=query_args, header=headers),
    )
    try:
        spec.validate_request(request)
    except OpenAPIError as exc:  # unknown path or operation, bad parameter or body
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        return f"{method} {path}: {exc}{cause}"
    return None

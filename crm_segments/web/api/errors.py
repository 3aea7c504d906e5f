"""JSON errors: ``{"error": {"code", "message", "fields": [{"field", "message"}]}}``."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge

from crm_segments.kernel.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from crm_segments.segments.query_segments import QueryFailed
from crm_segments.web.db import close_session


class BadBody(Exception):
    """The request body cannot be read as JSON."""


def error_response(status: int, code: str, message: str,
                   fields: list[FieldError] | None = None) -> tuple[Response, int]:
    body = {"code": code, "message": message,
            "fields": [{"field": f.field, "message": f.message} for f in fields or []]}
    return jsonify(error=body), status


def _rolled_back(response: tuple[Response, int]) -> tuple[Response, int]:
    close_session()  # roll back whatever the request had written before the error
    return response


def _validation_failed(exc: ValidationFailed) -> tuple[Response, int]:
    count = len(exc.errors)
    message = f"{count} field{'s' if count != 1 else ''} failed validation; nothing was written"
    return _rolled_back(error_response(422, "validation_failed", message, exc.errors))


def _conflict(exc: Conflict) -> tuple[Response, int]:
    return _rolled_back(error_response(409, "conflict", str(exc), [FieldError(exc.field, exc.message)]))


def _not_found(exc: NotFound) -> tuple[Response, int]:
    return _rolled_back(error_response(404, "not_found", str(exc)))


def _forbidden(exc: Forbidden) -> tuple[Response, int]:
    return _rolled_back(error_response(403, "forbidden", str(exc)))


def _rate_limited(exc: RateLimited) -> tuple[Response, int]:
    response, status = _rolled_back(error_response(429, "rate_limited", exc.message))
    response.headers["Retry-After"] = str(exc.retry_after)
    return response, status


def _query_failed(exc: QueryFailed) -> tuple[Response, int]:
    return _rolled_back(error_response(422, "query_failed", f"the query cannot run: {exc}",
                                       [FieldError("query_sql", str(exc))]))


def _bad_body(exc: BadBody) -> tuple[Response, int]:
    return _rolled_back(error_response(400, "malformed_json", str(exc), [FieldError("body", str(exc))]))


def http_error_response(exc: HTTPException) -> tuple[Response, int]:
    """Any HTTP error (unknown path, wrong method, too large a body, a crash) in the API's JSON shape."""
    status = exc.code or 500
    code = (exc.name or "error").lower().replace(" ", "_")
    message = exc.description or exc.name
    if isinstance(exc, InternalServerError):
        message = "an unexpected error happened; nothing was written"
    elif isinstance(exc, RequestEntityTooLarge):
        message = f"the request body is larger than the {request.max_content_length} bytes accepted"
    response, status = error_response(status, code, message)
    if allow := dict(exc.get_headers()).get("Allow"):
        response.headers["Allow"] = allow
    return response, status


def _http_error(exc: HTTPException) -> tuple[Response, int]:
    return _rolled_back(http_error_response(exc))


def register_error_handlers(bp: Blueprint) -> None:
    bp.register_error_handler(HTTPException, _http_error)
    bp.register_error_handler(ValidationFailed, _validation_failed)
    bp.register_error_handler(Conflict, _conflict)
    bp.register_error_handler(NotFound, _not_found)
    bp.register_error_handler(Forbidden, _forbidden)
    bp.register_error_handler(RateLimited, _rate_limited)
    bp.register_error_handler(BadBody, _bad_body)
    bp.register_error_handler(QueryFailed, _query_failed)

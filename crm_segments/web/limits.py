"""Bad requests stopped at the door: ids beyond what a store can hold, bodies over the size limit, and
the API's own errors (unknown path, wrong method) answered in its JSON error shape.

Installed on the app before any blueprint, so every ``<int:...>`` rule of the plugin uses the bounded
converter.
"""

from __future__ import annotations

from flask import Flask, Response, abort, current_app, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter, Map

from crm_segments.config import Settings
from crm_segments.services.errors import FieldError
from crm_segments.services.storable_text import PROBLEM, has_unstorable_text

# The largest id either store can compare with: PostgreSQL's bigint and SQLite's INTEGER. A larger (or
# negative) path id matches no route, so it is a 404 rather than an overflow inside the database driver.
MAX_STORED_INT = 2**63 - 1
JSON_TYPES = ("application/json",)


class BoundedIntConverter(IntegerConverter):
    def __init__(self, map: Map, *args: object, **kwargs: object) -> None:  # noqa: A002 - Werkzeug's name
        kwargs.setdefault("max", MAX_STORED_INT)
        super().__init__(map, *args, **kwargs)  # type: ignore[arg-type]


def install_request_limits(app: Flask, *, settings: Settings, api_prefix: str) -> None:
    app.url_map.converters["int"] = BoundedIntConverter
    app.config["MAX_CONTENT_LENGTH"] = app.config.get("MAX_CONTENT_LENGTH") or settings.max_upload_bytes
    api_root = api_prefix.rstrip("/") + "/"

    def in_api() -> bool:
        return request.path.startswith(api_root) or request.path == api_root.rstrip("/")

    def limit_and_route() -> tuple[Response, int] | None:
        if in_api() or request.mimetype in JSON_TYPES or request.mimetype.endswith("+json"):
            overall = current_app.config.get("MAX_CONTENT_LENGTH") or settings.max_json_bytes
            request.max_content_length = min(settings.max_json_bytes, overall)
        if in_api() and isinstance(request.routing_exception, HTTPException):
            return api_error(request.routing_exception)  # no such endpoint or method: still the API's shape
        if bad := [name for name, value in request.args.items(multi=True)
                   if has_unstorable_text(name) or has_unstorable_text(value)]:
            if in_api():
                from crm_segments.web.api.errors import error_response

                return error_response(422, "validation_failed", f"query parameter {bad[0]} {PROBLEM}",
                                      [FieldError(bad[0], PROBLEM)])
            abort(400, f"The address's {bad[0]} {PROBLEM}.")
        return None

    def too_large(exc: RequestEntityTooLarge) -> tuple[Response | str, int]:
        return api_error(exc) if in_api() else too_large_page(exc)

    app.before_request(limit_and_route)
    app.register_error_handler(RequestEntityTooLarge, too_large)


def api_error(exc: HTTPException) -> tuple[Response, int]:
    from crm_segments.web.api.errors import http_error_response

    return http_error_response(exc)


def too_large_page(_exc: RequestEntityTooLarge) -> tuple[str, int]:
    """The UI's answer to an oversized upload: a page naming the limit; nothing was read or written."""
    limit = request.max_content_length or current_app.config.get("MAX_CONTENT_LENGTH") or 0
    message = (f"The file or form is larger than the {limit // (1024 * 1024) or 1} MB this server accepts; "
               "nothing was changed. Split the file and upload the parts.")
    return render_template("crm_segments/error.html", code=413, heading="Too large",
                           message=message), 413

"""Bad requests stopped at the door: ids beyond what a store can hold, bodies over the size limit, and
the API's own errors (unknown path, wrong method) answered in its JSON error shape; and a number from
a request that reached the store too large for it, answered 400 rather than 500.

Installed on the app before any blueprint, so every ``<int:...>`` rule of the plugin uses the bounded
converter.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, abort, current_app, render_template, request
from sqlalchemy.exc import DataError
from werkzeug.exceptions import BadRequest, HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter, Map

from crm_segments.config import Settings
from crm_segments.kernel.errors import FieldError
from crm_segments.kernel.record_ids import MAX_ID
from crm_segments.kernel.storable_text import PROBLEM, has_unstorable_text

JSON_TYPES = ("application/json",)
NUMBER_OUT_OF_RANGE = "22003"  # PostgreSQL's SQLSTATE numeric_value_out_of_range
log = logging.getLogger(__name__)


class BoundedIntConverter(IntegerConverter):
    """Every id in a path names a row of an integer key (kernel/record_ids.py): a larger (or negative)
    path id matches no route, so it is a 404 rather than an "integer out of range" in the database."""

    def __init__(self, map: Map, *args: object, **kwargs: object) -> None:  # noqa: A002 - Werkzeug's name
        kwargs.setdefault("max", MAX_ID)
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
        routing = request.routing_exception
        if isinstance(routing, MethodNotAllowed) and not _path_exists(routing):
            request.routing_exception = NotFound()
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

    def out_of_range(exc: OverflowError | DataError) -> tuple[Response | str, int]:
        # Ids and numbers are read bounded where a page or the API reads them (kernel/record_ids.py);
        # one that still reaches the store out of its range (past 64 bits, which SQLite cannot bind;
        # past a PostgreSQL column's type, SQLSTATE 22003) is the client's, and the request's writes
        # are rolled back by the 4xx (web/db.py). Logged, so the place that let it through gets bounded.
        if isinstance(exc, DataError) and getattr(exc.orig, "sqlstate", None) != NUMBER_OUT_OF_RANGE:
            raise exc
        log.warning("a number too large for the store reached it from %s %s", request.method, request.path,
                    exc_info=exc)
        refused = BadRequest("A number in the request is larger than any id or amount this server keeps; "
                             "nothing was changed.")
        return api_error(refused) if in_api() else too_large_number_page(refused)

    app.before_request(limit_and_route)
    app.register_error_handler(RequestEntityTooLarge, too_large)
    app.register_error_handler(OverflowError, out_of_range)
    app.register_error_handler(DataError, out_of_range)


def _path_exists(exc: MethodNotAllowed) -> bool:
    """Werkzeug answers 405 when a rule for another method has the same shape, even if the id in the
    path is out of range for every rule; such a path names nothing, so it is a 404."""
    adapter = current_app.create_url_adapter(request)
    if adapter is None or not exc.valid_methods:
        return True
    for method in sorted(exc.valid_methods):  # the same quirk can answer 405 for each one of them
        try:
            adapter.match(method=method)
        except (NotFound, MethodNotAllowed):
            continue
        except HTTPException:  # a redirect: the path exists
            return True
        return True
    return False


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


def too_large_number_page(exc: BadRequest) -> tuple[str, int]:
    return render_template("crm_segments/error.html", code=400, heading="Bad request",
                           message=exc.description), 400

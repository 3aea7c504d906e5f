"""The path segment that names a record type in the UI's record routes (``/quotes``, ``/jobs``...)."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import BaseConverter, ValidationError

from crm_segments.records.queries import KINDS_BY_PATH


class RecordKindConverter(BaseConverter):
    """Matches only the plural names the record type registry lists when the request comes, so any
    other path (``/logout`` by GET, say) is left to its own rules: a 405 stays a 405."""

    def to_python(self, value: str) -> str:
        if value not in KINDS_BY_PATH:
            raise ValidationError
        return value


def install_record_paths(app: Flask) -> None:
    app.url_map.converters["record_kind"] = RecordKindConverter

"""The path segments that name a record type: the UI's record routes (``/quotes``, ``/jobs``...) and
the tag editor's entities (``/tags/entity/quote/3/add``). Each matches only the names registered when
the request comes, so any other name is a 404 at the door, never a lookup of a type that is not there."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import BaseConverter, ValidationError

from crm_segments.models.record_types import tag_entity_types
from crm_segments.records.queries import KINDS_BY_PATH


class RecordKindConverter(BaseConverter):
    """Matches only the plural names the record type registry lists when the request comes, so any
    other path (``/logout`` by GET, say) is left to its own rules: a 405 stays a 405."""

    def to_python(self, value: str) -> str:
        if value not in KINDS_BY_PATH:
            raise ValidationError
        return value


class TaggableTypeConverter(BaseConverter):
    """Matches only what tags attach to: ``profile`` and the taggable record types (``quote``...)."""

    def to_python(self, value: str) -> str:
        if value not in tag_entity_types():
            raise ValidationError
        return value


def install_record_paths(app: Flask) -> None:
    app.url_map.converters["record_kind"] = RecordKindConverter
    app.url_map.converters["taggable_type"] = TaggableTypeConverter

"""Two SQL constructs rendered differently per backend so that they mean the same on both.

``ascii_lower``: case folding of ASCII letters only. SQLite's built-in lower() folds ASCII only,
while PostgreSQL's folds per locale; under the "C" collation PostgreSQL's lower() folds ASCII only
too (and is several times faster than translate()), so "case-insensitive" matches the same rows on
both (and the reference evaluator folds the same way).

``json_kind``: the JSON type of one key of a JSON object column as 'string', 'number', 'boolean',
'null', 'object' or 'array' (NULL when the key is missing), used to read custom attributes only
when they have the declared type, so a stray string never breaks a numeric cast.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def fold_ascii(text: str) -> str:
    """The Python side of ascii_lower, for bound values."""
    return text.translate(str.maketrans(_UPPER, _UPPER.lower()))


class ascii_lower(FunctionElement[str]):  # noqa: N801 - SQL function style
    type = String()
    name = "ascii_lower"
    inherit_cache = True


@compiles(ascii_lower)
def _ascii_lower_default(element: ascii_lower, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(ascii_lower, "postgresql")
def _ascii_lower_postgresql(element: ascii_lower, compiler: Any, **kw: Any) -> str:
    return f'lower(({compiler.process(element.clauses, **kw)}) COLLATE "C")'


class json_kind(FunctionElement[str]):  # noqa: N801 - SQL function style
    type = String()
    name = "json_kind"
    inherit_cache = True


def json_kind_of(document: ColumnElement[Any], key: str) -> json_kind:
    """``key`` must be a plain identifier (fields.CUSTOM_KEY): it becomes a JSON path on SQLite."""
    return json_kind(document, literal(key, String()), literal(f'$."{key}"', String()))


@compiles(json_kind, "postgresql")
def _json_kind_postgresql(element: json_kind, compiler: Any, **kw: Any) -> str:
    document, key, _path = list(element.clauses)
    return f"json_typeof({compiler.process(document, **kw)} -> {compiler.process(key, **kw)})"


@compiles(json_kind, "sqlite")
def _json_kind_sqlite(element: json_kind, compiler: Any, **kw: Any) -> str:
    document, _key, path = list(element.clauses)
    kind = f"json_type({compiler.process(document, **kw)}, {compiler.process(path, **kw)})"
    return (f"CASE {kind} WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' "
            f"WHEN 'text' THEN 'string' WHEN 'true' THEN 'boolean' WHEN 'false' THEN 'boolean' "
            f"ELSE {kind} END")

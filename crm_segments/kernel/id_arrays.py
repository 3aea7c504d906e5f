"""Many ids as ONE PostgreSQL ``integer[]`` parameter, built compactly.

psycopg dumps a Python list element by element: a list of 355,000 ids (an import's changed
profiles) took about 90 MB of memory to send, a third of an import's budget. ``id_array`` sends the
array in PostgreSQL's binary array format, built in one ``array.array`` (8 bytes an id), so the
same list costs about 6 MB. The parameter reaches the server typed ``integer[]`` (the type of the
id columns, so ``= ANY`` over it is hashed) and, planned for its value, as a constant.
"""

from __future__ import annotations

import array
import struct
import sys
from collections.abc import Collection
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, bindparam
from sqlalchemy.orm import Session
from sqlalchemy.types import UserDefinedType

INT4_OID = 23
INT4_ARRAY_OID = 1007


class Int4Array:
    """Ids in PostgreSQL's binary ``integer[]`` format (sorted, one dimension)."""

    __slots__ = ("data",)

    def __init__(self, ids: Collection[int]) -> None:
        values = array.array("i", sorted(ids))  # OverflowError beyond the integer range
        body = array.array("i", [4]) * (2 * len(values))  # each element: its length (4), its value
        body[1::2] = values
        if sys.byteorder == "little":
            body.byteswap()  # network order
        # dimensions, has-nulls flag, element type; then the dimension's size and lower bound
        header = struct.pack("!iiIii", 1, 0, INT4_OID, len(values), 1) if values else struct.pack(
            "!iiI", 0, 0, INT4_OID)
        self.data = header + body.tobytes()


@cache
def _dumper() -> type:
    """psycopg's dumper for Int4Array; made on first use, as psycopg is the PostgreSQL extra's."""
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    class Int4ArrayDumper(Dumper):
        format = Format.BINARY
        oid = INT4_ARRAY_OID

        def dump(self, obj: Int4Array) -> bytes:
            return obj.data

    return Int4ArrayDumper


class IdArray(UserDefinedType[Any]):
    """A bound ``integer[]`` sent as an ``Int4Array``; PostgreSQL with psycopg only."""

    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "INTEGER[]"

    def bind_processor(self, dialect: Any) -> Any:
        return Int4Array


def int4_array_driver(session: Session) -> Any:
    """The psycopg connection of ``session``'s transaction, taking ``Int4Array`` parameters."""
    driver: Any = session.connection().connection.driver_connection
    driver.adapters.register_dumper(Int4Array, _dumper())
    return driver


def id_array(session: Session, name: str, ids: Collection[int]) -> BindParameter[Any]:
    """``ids`` as one bound ``integer[]`` parameter for statements run on ``session``'s connection."""
    int4_array_driver(session)
    return bindparam(name, ids, type_=IdArray())

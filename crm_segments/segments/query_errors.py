"""What a failed query segment tells its user: the kind of error and where, never the database's text.

A database's error message can quote the values a query read ("invalid input syntax for type integer:
\"alice@example.com\""), so it is never shown or stored. PostgreSQL errors are described by their
SQLSTATE's name and the position the server reports; SQLite errors by a known message shape, naming
only a word that occurs in the query itself.
"""

from __future__ import annotations

import re
import sqlite3
from typing import TYPE_CHECKING

try:  # the PostgreSQL driver is an extra (crm-segments[postgres]); SQLite alone needs none
    import psycopg

    POSTGRES_ERRORS: tuple[type[Exception], ...] = (psycopg.Error,)
except ImportError:
    POSTGRES_ERRORS = ()
if TYPE_CHECKING:
    import psycopg

TIMED_OUT = "the query took longer than the time limit"
UNEXPECTED = "the query could not be run ({kind}); nothing was changed"
_TOKEN = re.compile(r'"[^"]{0,60}"|\w{1,60}|\S')
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_GENERIC = {"Error", "DatabaseError", "InterfaceError", "InternalError", "OperationalError",
            "ProgrammingError", "DataError", "IntegrityError", "NotSupportedError"}
_GUARD = "refused by the database's guard for query segments"
# SQLite messages: (shape, kind). The named word is shown only when the query itself contains it.
_SQLITE_SHAPES = [
    (re.compile(r"no such column: (?P<word>[\w.]+)$"), "unknown column"),
    (re.compile(r"no such table: (?P<word>[\w.]+)$"), "unknown table"),
    (re.compile(r"no such function: (?P<word>\w+)$"), "unknown function"),
    (re.compile(r"ambiguous column name: (?P<word>[\w.]+)$"), "ambiguous column"),
    (re.compile(r"wrong number of arguments to function (?P<word>\w+)\(\)$"), "wrong number of arguments"),
    (re.compile(r"misuse of (?:aggregate|window) function:? ?(?P<word>\w+)\(\)$"), "misuse of an aggregate"),
    (re.compile(r'near "(?P<word>[^"]{1,60})": syntax error$'), "syntax error"),
    (re.compile(r"not authorized to use function: (?P<word>\w+)$"), _GUARD),
    (re.compile(r"access to [\w.]+ is prohibited$"), _GUARD),
    (re.compile(r"not authorized$"), _GUARD),
]


class QueryFailed(Exception):
    """The query was valid but running it failed: timeout, too many rows, not ids, a database error.

    The message never carries the database's own text.
    """


def failure_message(exc: BaseException) -> str:
    """What a user is shown, and a segment keeps, for any failure while previewing or refreshing a query
    segment: QueryFailed's own message, else only the kind of error, never its text."""
    if isinstance(exc, QueryFailed):
        return str(exc)
    cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    if isinstance(cause, POSTGRES_ERRORS):
        return postgres_message(cause, query="", offset=0)  # type: ignore[arg-type]
    if isinstance(cause, sqlite3.Error):
        return sqlite_message(cause, query="")
    return UNEXPECTED.format(kind=type(exc).__name__)


def postgres_message(exc: psycopg.Error, *, query: str, offset: int) -> str:
    """``exc`` raised by a statement whose text has ``query`` at character ``offset`` (0-based)."""
    code = exc.sqlstate or ""
    if code == "57014":  # query_canceled: the statement timeout
        return TIMED_OUT
    name = type(exc).__name__.rstrip("_")
    kind = "database error" if name in _GENERIC else _CAMEL.sub(" ", name).lower()
    message = f"{kind} (SQLSTATE {code or 'unknown'})"
    position = exc.diag.statement_position
    if position and position.isdigit():
        message += _where(query, int(position) - 1 - offset)
    return message


def sqlite_message(exc: sqlite3.Error, *, query: str) -> str:
    text = str(exc).strip()
    if text == "interrupted":
        return TIMED_OUT
    for shape, kind in _SQLITE_SHAPES:
        if match := shape.match(text):
            word = match.groupdict().get("word")
            at = query.lower().find(word.lower()) if word else -1
            return kind + (_where(query, at) if at >= 0 else "")
    return f"the database refused the query ({getattr(exc, 'sqlite_errorname', type(exc).__name__)})"


def role_message(exc: psycopg.Error, role: str) -> str:
    # SET ROLE names a missing role with invalid_parameter_value (22023)
    why = "does not exist" if exc.sqlstate in ("22023", "42704") else "cannot be used by this database user"
    return (f"query segments on PostgreSQL run as the database role {role}, which {why}; "
            "see \"Query segments\" in docs/security.md")


def _where(query: str, index: int) -> str:
    """Where in the checked query (as run, 1-based) and the word there, which is the query's own text."""
    if not 0 <= index < len(query):
        return ""
    token = _TOKEN.match(query, index)
    near = f", near {token.group(0)}" if token else ""
    return f" at character {index + 1} of the checked query{near}"

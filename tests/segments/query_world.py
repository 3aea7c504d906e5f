"""What the query-segment tests share: secrets committed where a query's own connection sees them, and
tests that belong to one store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import delete, insert
from sqlalchemy.engine import Engine

from crm_segments.models import ApiKey, Profile, User
from tests.change_log import change_log_restored

SECRET_EMAIL = "secret.value@example.com"
SECRET_HASH = "pbkdf2:sha256:600000$secret-salt$secret-hash-value"
SECRET_KEY_HASH = "secret-api-key-hash-0123456789abcdef0123456789abcdef0123456789ab"
SECRET_WORD = "secret"  # in every secret above: none of it may show in an error

# A query whose database error would quote a value it read (PostgreSQL: invalid input syntax for type
# integer: "secret.value@example.com"), and what the user sees instead.
LEAKY_QUERY = {
    "postgresql": "SELECT id FROM crm_profiles WHERE CAST(email AS INTEGER) = 1",
    "sqlite": "SELECT id FROM crm_profiles WHERE json_extract(email, '$.a') = 1",  # "malformed JSON"
}
LEAKY_SHOWN = {
    "postgresql": "invalid text representation (SQLSTATE 22P02)",
    "sqlite": "the database refused the query (SQLITE_ERROR)",
}


@dataclass(frozen=True)
class Committed:
    profile_ids: list[int]
    user_id: int


@contextmanager
def committed_rows(engine: Engine) -> Iterator[Committed]:
    """Five profiles (one with SECRET_EMAIL), an admin with SECRET_HASH and an API key with
    SECRET_KEY_HASH, committed outside the test's transaction (a query segment's connection sees only
    committed rows) and deleted afterwards."""
    rows = [{"external_id": f"QS-{i}", "region": "Yukon" if i < 3 else "Nunavut",
             "email": SECRET_EMAIL if i == 4 else None} for i in range(5)]
    with change_log_restored(engine):
        with engine.begin() as conn:
            ids = [conn.execute(insert(Profile).returning(Profile.id), row).scalar_one() for row in rows]
            user_id = conn.execute(insert(User).returning(User.id), {
                "email": "query.victim@example.com", "password_hash": SECRET_HASH,
                "role": "admin"}).scalar_one()
            conn.execute(insert(ApiKey), {"user_id": user_id, "name": "victim key", "prefix": "qsvictim",
                                          "key_hash": SECRET_KEY_HASH})
        try:
            yield Committed(ids, user_id)
        finally:
            with engine.begin() as conn:
                conn.execute(delete(Profile).where(Profile.id.in_(ids)))
                conn.execute(delete(ApiKey).where(ApiKey.user_id == user_id))
                conn.execute(delete(User).where(User.id == user_id))

"""Alembic environment: the plugin's own tables only, its own version table, the app's database URL."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import pool

import crm_segments.models  # noqa: F401  (fills Base.metadata)
from crm_segments.config import config_from_env
from crm_segments.db import TABLE_PREFIX, Base, UTCDateTime, make_engine
from crm_segments.migrate import VERSION_TABLE

config = context.config
target_metadata = Base.metadata


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    # A host database has tables of its own: look only at ours.
    if type_ == "table":
        return bool(name and name.startswith(TABLE_PREFIX))
    return True


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # Migrations stay free of the package's own types: UTCDateTime is a timestamptz column.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _options() -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "version_table": VERSION_TABLE,
        "include_name": include_name,
        "render_item": render_item,
        "compare_type": True,
        "render_as_batch": True,  # SQLite alters tables by copying them
    }


def _database_url() -> str:
    return config.get_main_option("sqlalchemy.url") or config_from_env()["CRM_SEGMENTS_DATABASE_URL"]


def run_migrations_offline() -> None:
    context.configure(url=_database_url(), literal_binds=True, **_options())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **_options())
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, **_options())
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

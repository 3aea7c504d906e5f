"""Run the plugin's Alembic migrations programmatically (init-db, run, tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from crm_segments.resources import data_path

VERSION_TABLE = "crm_segments_alembic_version"


def alembic_config(database_url: str) -> Config:
    config = Config(str(data_path("alembic.ini")))
    config.set_main_option("script_location", str(data_path("migrations")))
    # ConfigParser treats % as interpolation; URLs may carry %-escaped passwords.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def is_initialized(engine: Engine) -> bool:
    return inspect(engine).has_table(VERSION_TABLE)

"""The benchmark database: a private PostgreSQL database made fresh for each run, or one given."""

from __future__ import annotations

import re

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_DATABASE = "crm_bench"


def recreate_database(admin_url: str, name: str, *, template: str | None = None) -> str:
    """Drop and create database ``name`` (a copy of database ``template`` if given, which nothing may
    be connected to); return its URL."""
    for given in (name, template or name):
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", given):
            raise ValueError(f"database name {given!r}: use lower-case letters, digits and underscores")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            copied = f' TEMPLATE "{template}"' if template else ""
            connection.execute(text(f'CREATE DATABASE "{name}"{copied}'))
    finally:
        admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def admin_url_of(url: str) -> str:
    """The URL of the ``postgres`` database on the server of ``url``."""
    return make_url(url).set(database="postgres").render_as_string(hide_password=False)


def server_version(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                return str(connection.scalar(text("SHOW server_version")))
            if engine.dialect.name == "sqlite":
                return f"SQLite {connection.scalar(text('SELECT sqlite_version()'))}"
            return engine.dialect.name
    finally:
        engine.dispose()

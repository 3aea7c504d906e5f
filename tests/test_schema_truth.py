"""The schema `alembic upgrade head` builds is the schema the models' create_all builds.

The tests build their databases with create_all while production runs the migrations; beyond the
tables and columns (tests/test_migrations.py) this compares what the database itself holds: functions,
triggers, indexes and constraints, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

import crm_segments.models  # noqa: F401  (fills Base.metadata)
from crm_segments import migrate
from crm_segments.db import TABLE_PREFIX, Base, make_engine
from crm_segments.segments.query_role import install_query_role
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail

Schema = dict[str, dict[str, Any]]


_LITERAL = r"'[^']*'(?:::[a-z ]+)?"
_LITERAL_LIST = re.compile(rf"(?<=[(\[])({_LITERAL}(?:, {_LITERAL})+)(?=[)\]])")


def _squeeze(sql: str | None) -> str:
    """Layout aside (indentation, line breaks) and the order of a list of literals (`IN (...)`,
    `ANY (ARRAY[...])`), the same statement."""
    squeezed = re.sub(r"\s+", " ", sql or "").strip()
    return _LITERAL_LIST.sub(lambda m: ", ".join(sorted(m.group(1).split(", "))), squeezed)


def _plugin_tables(conn: Connection) -> list[str]:
    return sorted(t for t in inspect(conn).get_table_names()
                  if t.startswith(TABLE_PREFIX) and t != migrate.VERSION_TABLE)


def _sqlite_schema(conn: Connection) -> Schema:
    rows = conn.execute(text("SELECT type, name, tbl_name, sql FROM sqlite_master "
                             "WHERE type IN ('trigger', 'index') AND tbl_name LIKE 'crm\\_%' ESCAPE '\\'"))
    triggers = {name: _squeeze(sql) for kind, name, table, sql in rows if kind == "trigger"}
    inspector = inspect(conn)
    indexes: dict[str, Any] = {}
    constraints: dict[str, Any] = {}
    for table in _plugin_tables(conn):
        for index in inspector.get_indexes(table):
            where = index.get("dialect_options", {}).get("sqlite_where")
            indexes[f"{table}.{index['name']}"] = (tuple(index["column_names"]), bool(index["unique"]),
                                                   _squeeze(str(where)) if where is not None else None)
        pk = inspector.get_pk_constraint(table)
        constraints[f"{table} primary key"] = tuple(pk["constrained_columns"])
        for fk in inspector.get_foreign_keys(table):
            constraints[f"{table}.{fk['name']}"] = (
                tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]),
                tuple(sorted((fk.get("options") or {}).items())))
        for unique in inspector.get_unique_constraints(table):
            constraints[f"{table}.{unique['name']}"] = ("unique", tuple(unique["column_names"]))
        for check in inspector.get_check_constraints(table):
            constraints[f"{table}.{check['name']}"] = ("check", _squeeze(check["sqltext"]))
    return {"functions": {}, "triggers": triggers, "indexes": indexes, "constraints": constraints}


def _postgresql_schema(conn: Connection) -> Schema:
    functions = conn.execute(text(
        "SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema()"))
    triggers = conn.execute(text(
        "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger "
        "WHERE NOT tgisinternal AND tgrelid::regclass::text LIKE 'crm\\_%'"))
    indexes = conn.execute(text(
        "SELECT tablename || '.' || indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema() AND tablename LIKE 'crm\\_%' AND tablename <> :version"),
        {"version": migrate.VERSION_TABLE})
    constraints = conn.execute(text(
        "SELECT conrelid::regclass::text || '.' || conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE connamespace = current_schema()::regnamespace AND conrelid::regclass::text LIKE 'crm\\_%' "
        "AND conrelid::regclass::text <> :version"), {"version": migrate.VERSION_TABLE})
    return {
        "functions": {name: _squeeze(body) for name, body in functions},
        "triggers": {name: _squeeze(body) for name, body in triggers},
        "indexes": {name: _squeeze(body) for name, body in indexes},
        "constraints": {name: _squeeze(body) for name, body in constraints},
    }


def _schema(url: str) -> Schema:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                return _postgresql_schema(conn)
            return _sqlite_schema(conn)
    finally:
        engine.dispose()


def _create_all(url: str) -> None:
    """As tests/conftest.py builds every test database."""
    engine = make_engine(url)
    try:
        Base.metadata.create_all(engine)
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                install_query_role(conn)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def two_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}", f"sqlite:///{tmp_path / 'created.db'}"
        return
    reason = postgres_reachable()
    if reason:
        skip_or_fail(reason)
    with private_postgres_database() as migrated, private_postgres_database() as created:
        yield migrated, created


def test_migrations_and_create_all_build_the_same_functions_triggers_indexes_and_constraints(
        two_databases: tuple[str, str]) -> None:
    migrated, created = two_databases
    migrate.upgrade(migrated)
    _create_all(created)
    from_migrations, from_models = _schema(migrated), _schema(created)
    assert from_models["triggers"], "the models install triggers; the comparison must see them"
    assert from_models["indexes"] and from_models["constraints"]
    assert bool(from_models["functions"]) == migrated.startswith("postgresql")
    for kind in ("functions", "triggers", "indexes", "constraints"):
        assert from_migrations[kind] == from_models[kind], kind

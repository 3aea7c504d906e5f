"""The Alembic migrations build exactly the models' schema, on SQLite and PostgreSQL, and undo it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

import crm_segments.models  # noqa: F401
from crm_segments import migrate
from crm_segments.db import TABLE_PREFIX, Base, UTCDateTime, make_engine
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    reason = postgres_reachable()
    if reason:
        skip_or_fail(reason)
    with private_postgres_database() as url:
        yield url


def _include_name(name: str | None, type_: str, _parents: object) -> bool:
    return type_ != "table" or bool(name and name.startswith(TABLE_PREFIX))


def _differences(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={"compare_type": True, "include_name": _include_name,
                      "version_table": migrate.VERSION_TABLE},
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _plugin_tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        names = inspect(engine).get_table_names()
        return {t for t in names if t.startswith(TABLE_PREFIX) and t != migrate.VERSION_TABLE}
    finally:
        engine.dispose()


def test_upgrade_head_matches_models_and_downgrade_removes_everything(empty_database: str) -> None:
    migrate.upgrade(empty_database)
    assert _differences(empty_database) == []
    assert _plugin_tables(empty_database) == set(Base.metadata.tables)

    migrate.downgrade(empty_database, "base")
    assert _plugin_tables(empty_database) == set()

    migrate.upgrade(empty_database)  # and the way back up works after a full downgrade
    assert _differences(empty_database) == []


def test_there_is_exactly_one_head() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_migrations_do_not_depend_on_package_types() -> None:
    # Migration files must keep working when the package's own types change.
    versions = Path(migrate.alembic_config("sqlite://").get_main_option("script_location")) / "versions"
    for path in versions.glob("*.py"):
        assert UTCDateTime.__name__ not in path.read_text(), path.name

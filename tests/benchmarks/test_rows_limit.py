"""The import scenarios' floor (benchmarks/rows_limit.py): the rows an import wrote, loaded by COPY
into copies of the database as it was before, are the same rows, and the copies are dropped."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text

from benchmarks import run
from benchmarks.registry import load_scenarios
from tests.databases import postgres_admin_url, postgres_reachable, skip_or_fail


@pytest.mark.postgres
def test_an_imports_rows_load_by_copy_into_copies_of_the_database_as_the_same_rows() -> None:
    reason = postgres_reachable()
    if reason:
        skip_or_fail(reason)
    name = f"crm_bench_rows_{uuid.uuid4().hex[:8]}"
    load_scenarios()

    result = run.run_one("import-profiles-csv", profiles=300, seed=7, database_url=None,
                         admin_url=postgres_admin_url(), database_name=name, keep=False)

    assert "error" not in result, result.get("error")
    rows = result["import_rows"]
    assert rows["crm_profiles"] == result["profiles_imported"] == 300
    assert rows["crm_workflow_enrollments"] == result["enrolled_on_entry"] + result["enrolled_on_tag"]
    assert rows["crm_profile_tags"] == rows["crm_tag_events"] == result["enrolled_on_tag"] > 0
    assert rows["crm_segment_members"] == rows["crm_segment_events"] >= 300  # entries only, none left
    assert "exits" not in rows
    # One statement a table on both sides here (one chunk, one rule): the triggers log alike.
    assert result["copy_change_log_rows"] == result["import_change_log_rows"] > 0
    for side in ("copy", "copy_without_triggers"):
        assert set(result[f"{side}_tables_s"]) == set(rows)
        assert result[f"{side}_seconds"] > 0
    ratio = result["import_seconds"] / result["copy_seconds"]
    assert result["import_to_copy"] == pytest.approx(ratio, rel=0.01)
    admin = create_engine(postgres_admin_url())
    try:
        with admin.connect() as connection:
            left = connection.scalars(text("SELECT datname FROM pg_database WHERE datname LIKE :name"),
                                      {"name": f"{name}%"}).all()
    finally:
        admin.dispose()
    assert left == []

"""crm-segments seed-demo against a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from crm_segments import migrate
from crm_segments.cli import main
from crm_segments.db import make_engine
from crm_segments.models import Job, Profile


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    return url


def counts(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    with engine.connect() as connection:
        result = (connection.scalar(select(func.count()).select_from(Profile)) or 0,
                  connection.scalar(select(func.count()).select_from(Job)) or 0)
    engine.dispose()
    return result


def test_seed_demo_fills_an_empty_database_and_summarises(database: str) -> None:
    migrate.upgrade(database)
    result = CliRunner().invoke(main, ["seed-demo", "--profiles", "200", "--seed", "4"])

    assert result.exit_code == 0, result.output
    assert "Seeded 200 demo profiles (seed 4)" in result.output
    profiles, jobs = counts(database)
    assert profiles == 200 and jobs > 0
    assert f"{'jobs':<18}{jobs:>12,}" in result.output


def test_seed_demo_refuses_a_database_with_profiles(database: str) -> None:
    migrate.upgrade(database)
    runner = CliRunner()
    assert runner.invoke(main, ["seed-demo", "--profiles", "30"]).exit_code == 0

    result = runner.invoke(main, ["seed-demo", "--profiles", "30", "--seed", "2"])

    assert result.exit_code == 1
    assert "already has 30 profiles" in result.output
    assert counts(database)[0] == 30


def test_seed_demo_needs_a_migrated_database(database: str) -> None:
    result = CliRunner().invoke(main, ["seed-demo", "--profiles", "10"])
    assert result.exit_code == 1
    assert "crm-segments init-db" in result.output


def test_seed_demo_rejects_a_zero_count(database: str) -> None:
    result = CliRunner().invoke(main, ["seed-demo", "--profiles", "0"])
    assert result.exit_code == 2
    assert "--profiles" in result.output

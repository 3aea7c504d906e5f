"""The benchmark runner: scenarios register themselves, run in a child process and are recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import run
from benchmarks.registry import load_scenarios
from crm_segments import migrate


def test_scenarios_are_discovered() -> None:
    scenarios = load_scenarios()
    assert "seed" in scenarios and scenarios["seed"].description


def test_seed_runs_are_timed_and_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    results = tmp_path / "results.jsonl"
    migrate.upgrade(url)
    arguments = ["seed", "--profiles", "40", "--database-url", url, "--results", str(results)]

    assert run.main(arguments) == 0
    # The database now has profiles, so seeding it again fails, and the failure is recorded too.
    assert run.main(arguments) == 1

    first, second = (json.loads(line) for line in results.read_text().splitlines())
    assert first["scenario"] == "seed" and first["profiles"] == 40 and first["schema"] == "migrations"
    assert first["rows"]["crm_profiles"] == 40 and first["total_rows"] > 40
    assert first["seconds"] > 0 and first["peak_rss_mb"] > 10
    assert first["database"].startswith("SQLite")
    assert "already has 40 profiles" in second["error"]
    table = capsys.readouterr().out
    assert f"{first['total_rows']:,}" in table and "error" in table


def test_unknown_scenarios_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run.main(["no-such-scenario"])
    assert "unknown scenario" in capsys.readouterr().err

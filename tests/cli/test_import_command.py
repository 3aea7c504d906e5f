"""crm-segments import KIND FILE: prints the report; on any bad row exits non-zero and writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

import crm_segments.models  # noqa: F401  (fills Base.metadata)
from crm_segments.cli import main
from crm_segments.db import Base, make_engine
from crm_segments.models import Profile
from crm_segments.records import read_process


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    engine = make_engine(url)
    Base.metadata.create_all(engine)  # the schema of the models (migrations are tested elsewhere)
    engine.dispose()
    return url


def _profiles(url: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        count = int(conn.scalar(select(func.count()).select_from(Profile)) or 0)
    engine.dispose()
    return count


def test_import_prints_the_report(database: str, tmp_path: Path) -> None:
    path = tmp_path / "profiles.csv"
    path.write_bytes(b"\xef\xbb\xbfexternal_id,email\nP-1,ann@example.com\nP-2,\n")
    result = CliRunner().invoke(main, ["import", "profiles", str(path)])
    assert result.exit_code == 0, result.output
    assert "profiles: 2 rows, 2 created, 0 updated" in result.output
    assert _profiles(database) == 2


def test_the_standalone_command_reads_in_a_forked_child(database: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    children: list[read_process.ReadInChild] = []

    class Recorded(read_process.ReadInChild):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            children.append(self)

    monkeypatch.setattr(read_process, "ReadInChild", Recorded)
    path = tmp_path / "profiles.csv"
    path.write_text("external_id,email\nP-1,ann@example.com\n")
    result = CliRunner().invoke(main, ["import", "profiles", str(path)])
    assert result.exit_code == 0, result.output
    assert [child.exitcode for child in children] == [0]


def test_a_bad_row_fails_the_command_and_writes_nothing(database: str, tmp_path: Path) -> None:
    path = tmp_path / "profiles.csv"
    path.write_text("external_id,email,phone\nP-1,ann@example.com,\nP-2,broken,\nP-3,,555\n")
    result = CliRunner().invoke(main, ["import", "profiles", str(path)])
    assert result.exit_code == 1
    assert "line 3, email:" in result.output
    assert "line 4, phone:" in result.output
    assert "2 problems found; nothing was imported" in result.output
    assert _profiles(database) == 0


def test_unknown_kind_and_missing_file_are_usage_errors(database: str, tmp_path: Path) -> None:
    assert CliRunner().invoke(main, ["import", "planets", str(tmp_path / "x.csv")]).exit_code == 2
    assert CliRunner().invoke(main, ["import", "profiles", str(tmp_path / "missing.csv")]).exit_code == 2

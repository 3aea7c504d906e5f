"""crm-segments segments refresh [NAME] and segments list, against a SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, insert, select

import crm_segments.models  # noqa: F401  (fills Base.metadata)
from crm_segments.cli import main
from crm_segments.db import Base, make_engine
from crm_segments.models import Profile, Segment, SegmentMember


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(Profile), [{"external_id": f"P-{i}", "region": "Ontario" if i % 2 else "Yukon"}
                                       for i in range(6)])
        conn.execute(insert(Segment), [
            {"name": "Ontario", "kind": "live", "rule": {"field": "region", "op": "eq", "value": "Ontario"}},
            {"name": "Broken", "kind": "live", "rule": {"field": "nope", "op": "eq", "value": "x"}},
        ])
    engine.dispose()
    return url


def _members(url: str, name: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        count = conn.scalar(select(func.count()).select_from(SegmentMember).join(
            Segment, Segment.id == SegmentMember.segment_id).where(Segment.name == name))
    engine.dispose()
    return int(count or 0)


def test_refresh_one_segment_by_name(database: str) -> None:
    result = CliRunner().invoke(main, ["segments", "refresh", "ontario"])
    assert result.exit_code == 0, result.output
    assert "Ontario: 3 members (+3 -0)" in result.output
    assert _members(database, "Ontario") == 3


def test_refresh_all_reports_failures_and_still_refreshes_the_rest(database: str) -> None:
    result = CliRunner().invoke(main, ["segments", "refresh"])
    assert result.exit_code == 1
    assert "Broken: FAILED" in result.output and "nope" in result.output
    assert _members(database, "Ontario") == 3
    listing = CliRunner().invoke(main, ["segments", "list"])
    assert listing.exit_code == 0 and "Ontario" in listing.output and "never" in listing.output


def test_unknown_name(database: str) -> None:
    result = CliRunner().invoke(main, ["segments", "refresh", "Nowhere"])
    assert result.exit_code == 1 and "no live or query segment named 'Nowhere'" in result.output

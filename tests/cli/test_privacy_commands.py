"""export-profile and erase-profile against a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from crm_segments.cli import main
from crm_segments.db import make_engine, make_session_factory
from crm_segments.models import Erasure, Profile


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    assert CliRunner().invoke(main, ["init-db"]).exit_code == 0
    return url


def test_export_then_erase_a_profile(database: str, tmp_path: Path) -> None:
    engine = make_engine(database)
    with make_session_factory(engine)() as session, session.begin():
        profile = Profile(external_id="HOST-77", email="ada.lovelace@example.org", first_name="Ada")
        session.add(profile)
        session.flush()
        profile_id = profile.id
    runner = CliRunner()
    output = tmp_path / "ada.json"
    exported = runner.invoke(main, ["export-profile", str(profile_id), "--output", str(output)])
    assert exported.exit_code == 0, exported.output
    assert json.loads(output.read_text())["profile"]["email"] == "ada.lovelace@example.org"

    kept = runner.invoke(main, ["erase-profile", str(profile_id)], input="n\n")
    assert kept.exit_code != 0
    erased = runner.invoke(main, ["erase-profile", str(profile_id), "--yes"])
    # The profile and the change-log row its creation wrote.
    assert erased.exit_code == 0 and f"Erased profile {profile_id}: 2 rows" in erased.output
    with make_session_factory(engine)() as session:
        assert session.get(Profile, profile_id) is None
        audit = session.scalars(select(Erasure)).one()
        assert (audit.profile_id, audit.via, audit.erased_by_id, audit.rows) == (
            profile_id, "cli", None, {"crm_profiles": 1, "crm_profile_changes": 1})
    engine.dispose()
    missing = runner.invoke(main, ["export-profile", str(profile_id)])
    assert missing.exit_code != 0 and f"no profile with id {profile_id}" in missing.output

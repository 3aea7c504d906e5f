from __future__ import annotations

from pathlib import Path

import pytest

from crm_segments import create_app
from crm_segments.config import ConfigError, config_from_env, validate_database_url
from crm_segments.extension import CRMSegments


@pytest.fixture(autouse=True)
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    return tmp_path / "instance"


def test_defaults_to_sqlite_under_instance_and_keeps_a_generated_secret(instance: Path) -> None:
    first = config_from_env({})
    assert first["CRM_SEGMENTS_DATABASE_URL"] == f"sqlite:///{instance / 'crm_segments.db'}"
    assert len(first["SECRET_KEY"]) >= 32
    assert config_from_env({})["SECRET_KEY"] == first["SECRET_KEY"]  # kept, not regenerated
    assert (instance / "secret_key").stat().st_mode & 0o077 == 0


def test_postgres_url_gets_the_psycopg3_driver() -> None:
    assert validate_database_url("postgresql://u@h/db").startswith("postgresql+psycopg://")


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://root@localhost/x"}, "DATABASE_URL"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"PUBLIC_URL": "ftp://example.com"}, "CRM_SEGMENTS_PUBLIC_URL"),
    ],
)
def test_bad_settings_fail_at_start_naming_the_setting(env: dict[str, str], names: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("DATABASE_URL", "SECRET_KEY", "PUBLIC_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=names):
        create_app()


def test_extension_refuses_a_second_init_app(instance: Path) -> None:
    from flask import Flask

    app = Flask("host")
    app.config["SECRET_KEY"] = "host-secret-0123456789"
    app.config["CRM_SEGMENTS_DATABASE_URL"] = f"sqlite:///{instance / 'host.db'}"
    extension = CRMSegments()
    extension.init_app(app)
    assert "crm_segments" in app.extensions
    with pytest.raises(RuntimeError, match="already registered"):
        extension.init_app(app)

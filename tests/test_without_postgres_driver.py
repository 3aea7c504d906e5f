"""The PostgreSQL driver is an extra (crm-segments[postgres]): on SQLite every module imports, the
schema migrates and pages are served without psycopg."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import importlib, pkgutil, sys
    sys.modules["psycopg"] = None  # any "import psycopg" now raises ImportError
    import crm_segments
    from crm_segments import create_app, migrate

    for module in pkgutil.walk_packages(crm_segments.__path__, "crm_segments."):
        importlib.import_module(module.name)
    url = sys.argv[1]
    migrate.upgrade(url)
    app = create_app({"SECRET_KEY": "x" * 32, "CRM_SEGMENTS_DATABASE_URL": url,
                      "CRM_SEGMENTS_BACKGROUND_WORKER": False})
    print(app.test_client().get("/login").status_code)
""")


def test_sqlite_needs_no_postgresql_driver(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, f"sqlite:///{tmp_path / 'crm.db'}"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "CRM_SEGMENTS_INSTANCE_DIR": str(tmp_path / "instance")})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "200"

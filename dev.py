#!/usr/bin/env python3
"""Set up a virtual environment and run crm-segments or its tests; needs only Python 3.11+.

    python3 dev.py run     install, migrate, seed demo data, start the web UI and scheduler
    python3 dev.py test    install with test tools (and Chromium, as root on Debian), run ruff, mypy and
                           lint-imports (the layers of imports), then the whole suite

Extra arguments go to the command (e.g. `python3 dev.py test -k segments`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
CONSTRAINTS = ROOT / "constraints.txt"  # pinned versions: every install resolves the same set
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def ensure_environment(extras: str) -> None:
    """Create .venv and install the project; reinstall only when pyproject.toml or the pins changed."""
    if sys.version_info < (3, 11):  # noqa: UP036  (this file runs on whatever python3 is)
        sys.exit(f"crm-segments needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print("Creating virtual environment in .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + CONSTRAINTS.read_bytes()
                            + extras.encode()).hexdigest()
    stamp = VENV / f".installed-{extras or 'base'}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"Installing crm-segments{extras} and its dependencies ...", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "--constraint", str(CONSTRAINTS), "--editable", f"{ROOT}{extras}"], check=True)
    stamp.write_text(digest)


def ensure_browser() -> None:
    """The browser tests drive Debian's Chromium; install it where this user may (root with apt)."""
    if Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists():
        return
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not Path("/usr/bin/apt-get").exists():
        print("Chromium is missing (apt-get install chromium chromium-driver): browser tests will say so",
              flush=True)
        return
    print("Installing Debian's chromium and chromium-driver for the browser tests ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    os.chdir(ROOT)
    if command == "run":
        ensure_environment("[postgres]")  # DATABASE_URL may name PostgreSQL
        return subprocess.call([str(BIN / "crm-segments"), "run", *rest])
    ensure_environment("[test]")
    ensure_browser()
    # Lint, types and the layers of imports first (pyproject.toml's contracts): a failure stops the run.
    checks = {"ruff check .": [str(PYTHON), "-m", "ruff", "check", "."], "mypy": [str(PYTHON), "-m", "mypy"],
              "lint-imports": [str(BIN / "lint-imports"), "--no-logo"]}
    for name, check in checks.items():
        print(f"Running {name} ...", flush=True)
        status = subprocess.call(check)
        if status:
            return status
    return subprocess.call([str(PYTHON), "-m", "pytest", *rest])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

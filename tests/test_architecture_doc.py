"""docs/architecture.md and README.md show the imports as they are, and name every package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))

from architecture_diagram import layers  # noqa: E402


def test_the_import_diagram_is_generated_from_the_current_code() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "architecture_diagram.py"), "--check"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_architecture_page_says_what_belongs_in_each_package() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    for package in (name for layer in layers() for name in layer):
        assert any(f"`{package}`" in row.split("|")[1] for row in rows), package

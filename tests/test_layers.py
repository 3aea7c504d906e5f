"""The layers of imports hold (pyproject.toml's import-linter contracts), and the contracts do catch
a package importing one above it: the same check run on a copy of the package given such an import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports on the crm_segments package found in ``tree``, with the repository's contracts."""
    env = {**os.environ, "PYTHONPATH": str(tree)}  # ahead of the installed (editable) package
    return subprocess.run([str(LINT_IMPORTS), "--no-logo", "--no-cache", str(ROOT / "pyproject.toml")],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=120, check=False)


def _no_code(folder: str, names: list[str]) -> set[str]:
    """What the copy leaves out: caches, and the web's static files and page templates (folders without
    an ``__init__.py``; the ``templates`` package of message templates is code and is copied)."""
    return {name for name in names if name == "__pycache__" or (
        name in ("static", "templates") and not (Path(folder) / name / "__init__.py").exists())}


def test_every_package_imports_only_the_layers_below_it() -> None:
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


def test_an_import_from_a_lower_layer_to_a_higher_one_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "crm_segments", tmp_path / "crm_segments", ignore=_no_code)
    errors = tmp_path / "crm_segments" / "kernel" / "errors.py"
    errors.write_text(errors.read_text() + "\nfrom crm_segments.segments import rules  # noqa: E402\n")
    done = _lint_imports(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BROKEN" in done.stdout
    assert "crm_segments.kernel.errors -> crm_segments.segments.rules" in done.stdout

"""Where the data folders (migrations, workflows, email templates) are, in a checkout or a wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_path(name: str) -> Path:
    """A top-level data folder: inside the package when installed from a wheel, else the checkout's."""
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"data folder {name!r} is missing from the installation")

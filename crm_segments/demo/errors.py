"""The demo data error."""

from __future__ import annotations


class DemoDataError(Exception):
    """Demo data cannot be seeded (bad arguments, a database that already has profiles, a failed load)."""

"""Timed scenarios against a real database: ``python -m benchmarks.run --help``."""

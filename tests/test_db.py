"""SQLite behaviour the product relies on: foreign keys on, and writers that queue instead of failing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from crm_segments.db import make_engine


def test_sqlite_transactions_take_the_write_lock_when_they_begin(tmp_path: Path) -> None:
    # A transaction that read first and writes later would otherwise fail with "database is
    # locked" as soon as another connection committed in between, whatever the busy timeout.
    path = tmp_path / "crm.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT count(*) FROM t")).scalar_one()
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again once the transaction has ended
        other.execute("ROLLBACK")
    finally:
        other.close()
        engine.dispose()


def test_sqlite_enforces_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    finally:
        engine.dispose()

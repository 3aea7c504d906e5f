"""What a scenario gets: the database, the requested size and seed, and shared set-up helpers."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from crm_segments.db import make_engine


@dataclass
class BenchContext:
    database_url: str
    profiles: int
    seed: int
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.database_url)
        return self._engine

    def profile_count(self) -> int:
        from crm_segments.models import Profile

        with self.engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(Profile)) or 0)

    def ensure_demo_data(self) -> None:
        """For scenarios that measure work on data: seed demo data unless profiles already exist.

        Use it as a scenario's ``prepare`` step, so the seeding is neither timed nor in its memory.
        """
        from crm_segments.demo.seed import seed_database

        if self.profile_count() == 0:
            seed_database(self.engine, profiles=self.profiles, seed=self.seed)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

"""The RFM step of a scheduled refresh after 1 % of profiles (and no job) changed.

``python -m benchmarks.rfm_skip DATABASE_URL [RUNS]``: computes the scores, prunes the change log,
then per run changes the region of one profile in 100 by plain SQL (logged by the triggers) and
times ``refresh_rfm(only_if_changed=True)`` (the purchases check, which finds nothing to recompute)
against ``refresh_rfm_scores`` (the full recompute a refresh ran before the check). Changes data: run
it on a copy.
"""

from __future__ import annotations

import datetime as dt
import sys
import time

from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from crm_segments.db import make_engine
from crm_segments.segments import incremental, rfm
from crm_segments.segments.refresh import refresh_rfm, refresh_settings

SHARE = 100  # one profile in this many changes per run


def main(url: str, runs: int) -> None:
    engine = make_engine(url)
    factory = sessionmaker(bind=engine)
    now = dt.datetime.now(dt.UTC)
    with factory() as session:
        refresh_settings(session)
        refresh_rfm(session, now=now)
        incremental.prune_change_log(session)
        session.commit()
    with engine.begin() as connection:
        connection.execute(text("ANALYZE crm_profile_changes"))
    for run in range(runs):
        with engine.begin() as connection:
            changed = connection.execute(text(
                "UPDATE crm_profiles SET region = CASE WHEN region = 'California' THEN 'Texas' "
                "ELSE 'California' END WHERE id % :share = :run"), {"share": SHARE, "run": run}).rowcount
        now += dt.timedelta(minutes=1)
        with factory() as session:
            refresh_settings(session)
            started = time.perf_counter()
            recomputed = refresh_rfm(session, now=now, only_if_changed=True)
            check = time.perf_counter() - started
            started = time.perf_counter()
            rfm.refresh_rfm_scores(session, now=now)
            full = time.perf_counter() - started
            incremental.prune_change_log(session)
            session.commit()
        print(f"run {run + 1}: {changed} profiles changed, recomputed {recomputed}: "
              f"check {check:.3f} s, full recompute {full:.3f} s")
    engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2)

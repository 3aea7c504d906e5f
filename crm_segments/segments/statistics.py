"""Planner statistics before segment refreshes (PostgreSQL).

Segment rules compile to EXISTS / NOT EXISTS and grouped subqueries whose plans depend on the
planner's row estimates. Right after a bulk load (an import, seed-demo, a host app's batch job) and
before autovacuum has analyzed the tables (or where autovacuum is off), the estimates can be off by
orders of magnitude and a NOT EXISTS can become a nested loop over every pair of rows. A refresh run
therefore first analyzes the CRM tables that changed a lot since their last analysis, using
autovacuum's own threshold, so with autovacuum on this is usually a no-op.
"""

from __future__ import annotations

import logging
import re

from sqlalchemy import text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
# autovacuum_analyze_threshold and autovacuum_analyze_scale_factor defaults
BASE_THRESHOLD, SCALE_FACTOR = 50, 0.1
_SAFE_NAME = re.compile(r"crm_[a-z0-9_]+")
_SAFE_SCHEMA = re.compile(r"[a-z_][a-z0-9_]*")


def analyze_stale_tables(session: Session) -> list[str]:
    """ANALYZE the plugin's tables whose changes since the last analysis pass autovacuum's threshold."""
    if session.get_bind().dialect.name != "postgresql":
        return []  # SQLite's planner needs no statistics to pick index lookups for these queries
    stale = session.execute(text(
        "SELECT schemaname, relname FROM pg_stat_user_tables WHERE relname LIKE 'crm\\_%' "
        "AND schemaname NOT LIKE 'pg\\_temp%' AND n_mod_since_analyze > :base + :scale * n_live_tup "
        "ORDER BY relname"), {"base": BASE_THRESHOLD, "scale": SCALE_FACTOR}).all()
    analyzed = []
    for schema, name in stale:
        if _SAFE_NAME.fullmatch(name) and _SAFE_SCHEMA.fullmatch(schema):
            session.execute(text(f'ANALYZE "{schema}"."{name}"'))
            analyzed.append(name)
    if analyzed:
        log.info("analyzed %s before refreshing segments", ", ".join(analyzed))
    return analyzed

"""Near-real-time membership on PostgreSQL: one statement per dependency level that tells which of
the changed profiles match each segment now and writes every difference — members in and out,
their entered / exited events and the segments' member counts.

One changed profile used to cost a query of matches, a query of stored memberships, then for each
segment that differed a lock, two inserts and an update, each built by SQLAlchemy for the call:
8.9 ms against 1.3 ms for one hand-written statement at 1M profiles. Here the statement of a level is
rendered once per day and set of rules (ids, times and "now" are parameters, so the server prepares
it once per connection) and runs as one round trip.

Serialisation is kept as lock_segment keeps it: a segment's membership is written only under its
row lock. The statement takes the locks of the segments that differ with SKIP LOCKED and only when
the segment row is still the version its snapshot read (same ``xmin``): every writer of a membership
updates that row, so an unchanged row means the stored members read are current. A segment locked by
another writer, or changed since the snapshot, is answered as contended and the caller diffs it the
waiting way (lock, then read afresh).

The rules are the caller's last reading of them (live_rules.py): the statement first checks their
digest against the stored rules in its own snapshot, and when they differ it writes nothing and says
so, for the caller to read them again.

The diff is the same full join as ``membership.write_differences`` (a refresh's statement) but
written out here rather than built from it: this one is rendered once and prepared, so it takes its
ids, times and rules' digest as parameters, and it writes only into the segments whose locks it took
without waiting and whose rows are unchanged since its snapshot, and keeps their member counts; a
refresh holds its segments' locks before its statement starts and records its counts afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, bindparam, literal, select, union_all
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from crm_segments.models import Profile, Segment

from .compiler import rule_predicate
from .live_rules import DIGEST_SQL
from .membership import Diff
from .periods import BoundNow, today
from .rules import parse_rule

Level = tuple[tuple[int, str], ...]  # (segment id, rule as canonical JSON) of one dependency level

# ``{matches}``: (segment_id, profile_id) of the changed profiles that match each segment now;
# ``{digest}``: the stored live rules' digest. A row without a segment says the rules were not current.
_WRITE_DIFFERENCES = """
WITH rules AS MATERIALIZED (SELECT ({digest}) = %(rules)s AS current),
should AS MATERIALIZED ({matches}),
stored AS MATERIALIZED (
    SELECT segment_id, profile_id FROM crm_segment_members
    WHERE profile_id = ANY (%(ids)s::INTEGER[]) AND segment_id IN ({segments})),
differ AS MATERIALIZED (
    SELECT coalesce(s.segment_id, m.segment_id) AS segment_id,
           coalesce(s.profile_id, m.profile_id) AS profile_id, m.profile_id IS NULL AS entering
    FROM should s FULL JOIN stored m ON m.segment_id = s.segment_id AND m.profile_id = s.profile_id
    WHERE s.profile_id IS NULL OR m.profile_id IS NULL),
seen AS MATERIALIZED (
    SELECT id, xmin AS row_version FROM crm_segments WHERE id IN (SELECT segment_id FROM differ)),
locked AS MATERIALIZED (
    SELECT g.id, g.version FROM crm_segments g JOIN seen ON seen.id = g.id
    WHERE g.xmin = seen.row_version AND (SELECT current FROM rules)
    FOR UPDATE OF g SKIP LOCKED),
added AS (
    INSERT INTO crm_segment_members (segment_id, profile_id, entered_at)
    SELECT d.segment_id, d.profile_id, %(now)s FROM differ d JOIN locked l ON l.id = d.segment_id
    WHERE d.entering ORDER BY 1, 2
    RETURNING segment_id, profile_id),
removed AS (
    DELETE FROM crm_segment_members m USING differ d, locked l
    WHERE NOT d.entering AND l.id = d.segment_id
      AND m.segment_id = d.segment_id AND m.profile_id = d.profile_id
    RETURNING m.segment_id, m.profile_id),
moved AS MATERIALIZED (
    SELECT segment_id, profile_id, 'entered' AS kind FROM added
    UNION ALL SELECT segment_id, profile_id, 'exited' FROM removed),
events AS (
    INSERT INTO crm_segment_events (segment_id, profile_id, kind, occurred_at, segment_version, source)
    SELECT v.segment_id, v.profile_id, v.kind, %(now)s, l.version, 'realtime'
    FROM moved v JOIN locked l ON l.id = v.segment_id),
tally AS MATERIALIZED (
    SELECT segment_id, count(*) FILTER (WHERE kind = 'entered') AS entered,
           count(*) FILTER (WHERE kind = 'exited') AS exited
    FROM moved GROUP BY segment_id),
counted AS (
    UPDATE crm_segments g SET member_count = g.member_count + t.entered - t.exited
    FROM tally t WHERE g.id = t.segment_id)
SELECT d.segment_id, l.id IS NULL AS contended, coalesce(t.entered, 0), coalesce(t.exited, 0)
FROM (SELECT DISTINCT segment_id FROM differ) d
LEFT JOIN locked l ON l.id = d.segment_id
LEFT JOIN tally t ON t.segment_id = d.segment_id
UNION ALL SELECT NULL, NULL, NULL, NULL FROM rules WHERE NOT current
"""


# The statement is prepared on the connection at its first run and planned once, generically: a
# custom plan for each call took 3.8 ms against 1.4 ms of execution at 1M profiles, and left to
# itself PostgreSQL kept re-planning. The generic plan's cost, the same for any number of ids, also
# keeps it below the JIT threshold. The mode is set for this statement only and set back from a
# transaction-local copy, so the three go to the server together in one round trip (a pipeline).
# An error rolls the caller's transaction or savepoint back, and the settings with it.
_GENERIC_PLAN = ("SELECT set_config('crm_segments.plan_cache_mode', current_setting('plan_cache_mode'), "
                 "true), set_config('plan_cache_mode', 'force_generic_plan', true)")
_PLAN_CACHE_MODE_BACK = ("SELECT set_config('plan_cache_mode', "
                         "current_setting('crm_segments.plan_cache_mode'), true)")


@dataclass(frozen=True)
class LevelWrites:
    """The rendered statement of a level and how to turn an execution's values into its parameters.

    The statement is sent as it is, with PostgreSQL's own ``$n`` placeholders (psycopg's RawCursor):
    psycopg converts ``%(name)s`` placeholders again on every execution of a statement as long as
    this one (over 4 kB, or over 50 parameters), which took a fifth of a changed profile's call."""

    sql: str
    names: tuple[str, ...]  # the parameter of each placeholder, $1 first
    defaults: dict[str, Any]  # the rules' own values, converted for the driver
    processors: dict[str, Callable[[Any], Any]]  # each parameter's conversion for the driver
    now: BoundNow

    def parameters(self, ids: Sequence[int], now: dt.datetime, rules: str) -> list[Any]:
        runtime = {**self.now.values(now), "ids": list(ids), "now": now, "rules": rules}
        values = {**self.defaults, **{key: self.processors[key](value) if key in self.processors else value
                                      for key, value in runtime.items()}}
        return [values[name] for name in self.names]


_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with its ``%(name)s`` placeholders numbered in order of first use (``%%`` is ``%``)."""
    order: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return "%"
        return f"${order.setdefault(match.group(1), len(order) + 1)}"

    return _PLACEHOLDER.sub(number, sql), tuple(order)


@lru_cache(maxsize=64)
def level_writes(level: Level, day: dt.date, dialect: Dialect) -> LevelWrites:
    """The statement of ``level`` for changes on ``day``, rendered for ``dialect`` (PostgreSQL)."""
    ids = bindparam("ids", type_=ARRAY(Integer))
    now = BoundNow(day)
    matches = union_all(*(
        select(literal(segment_id, Integer).label("segment_id"), Profile.id.label("profile_id"))
        .where(rule_predicate(parse_rule(json.loads(document)), now=now, profile_ids=ids))
        for segment_id, document in level
    ))
    # Expanded once: the rules' own value lists become one parameter per value, fixed for good.
    runtime = dict.fromkeys(["ids", *now.values(dt.datetime.combine(day, dt.time(), dt.UTC))])
    state = matches.compile(dialect=dialect).construct_expanded_state(runtime, escape_names=False)
    sql = _WRITE_DIFFERENCES.format(matches=state.statement, digest=DIGEST_SQL,
                                    segments=", ".join(str(segment_id) for segment_id, _ in level))
    processors: dict[str, Callable[[Any], Any]] = dict(state.processors)
    defaults = {key: processors[key](value) if key in processors else value
                for key, value in state.parameters.items() if key not in runtime}
    numbered, names = _numbered(sql)
    return LevelWrites(numbered, names, defaults, processors, now)


def write_level(session: Session, level: Level, ids: Sequence[int], now: dt.datetime,
                rules: str) -> tuple[dict[int, Diff], list[int]] | None:
    """Bring the level's memberships of ``ids`` up to date at ``now`` in one statement: the changes by
    segment, and the segments that differ but another writer holds (for the caller to diff waiting).
    None, and nothing written, when the stored live rules' digest is no longer ``rules``."""
    from psycopg import RawCursor  # here: an install on SQLite alone has no PostgreSQL driver

    statement = level_writes(level, today(now), session.get_bind().dialect)
    driver: Any = session.connection().connection.driver_connection  # psycopg's, in this transaction
    with driver.pipeline():
        driver.execute(_GENERIC_PLAN)
        parameters = statement.parameters(ids, now, rules)
        written = RawCursor(driver).execute(statement.sql, parameters, prepare=True)
        driver.execute(_PLAN_CACHE_MODE_BACK)
    rows = written.fetchall()
    if any(segment_id is None for segment_id, _, _, _ in rows):
        return None
    changes = {int(segment_id): Diff(int(entered), int(exited))
               for segment_id, contended, entered, exited in rows if not contended and (entered or exited)}
    if changes:
        _expire_counts(session, changes)
    return changes, [int(segment_id) for segment_id, contended, _, _ in rows if contended]


def _expire_counts(session: Session, changed: dict[int, Diff]) -> None:
    """Loaded segments show the counts just written when next read."""
    for segment_id in changed:
        loaded = session.identity_map.get(session.identity_key(Segment, segment_id))
        if loaded is not None:
            session.expire(loaded, ["member_count"])

"""The 20 pre-built segments written by hand in plain PostgreSQL, as a reference for the product.

Each segment is one statement over the record tables that returns ``profile_id``: unions of record
scans, first / last events as anti-joins over the window's index range, RFM as one scan of a score
table. The memberships and RFM scores live in tables of their own (``bench_hand_*``) with the same
columns, keys, indexes and profile foreign keys as the product's, so both write the same rows.
Nothing here reads the product's compiler: it is an independent computation of the same meaning.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

# Not named crm_*: the product analyzes its own stale tables (statistics.py), not these.
MEMBERS, EVENTS, RFM = "bench_hand_members", "bench_hand_events", "bench_hand_rfm"
# The counts the product keeps beside its memberships (a segment's members, its members by acquisition
# source, its entries and exits by day), kept by the hand statement for one profile.
COUNTS, SOURCES, DAYS = "bench_hand_segments", "bench_hand_sources", "bench_hand_days"

_FIRMO = ("(btrim(company) <> '' OR btrim(job_title) <> '' OR btrim(industry) <> '' "
          "OR company_size IS NOT NULL OR annual_revenue IS NOT NULL)")
_DEMO = ("(birth_date IS NOT NULL OR gender IS NOT NULL OR income_band IS NOT NULL "
         "OR education IS NOT NULL OR btrim(occupation) <> '' OR family_status IS NOT NULL)")


def _first_within(table: str, column: str, status: str = "") -> str:
    """Owners whose first ``column`` lies in [d90, now]: the window's rows, none before it."""
    return f"""
SELECT DISTINCT r.profile_id FROM {table} r
WHERE {status.format(t='r')} r.{column} >= :d90 AND r.{column} <= :now
  AND NOT EXISTS (SELECT FROM {table} e WHERE e.profile_id = r.profile_id
                  AND {status.format(t='e')} e.{column} < :d90)"""


_PROFILES = "SELECT id AS profile_id FROM crm_profiles WHERE"
_COMPLETED = "{t}.status = 'completed' AND"

SEGMENTS: dict[str, str] = {
    "new_to_quotes": _first_within("crm_quotes", "sent_at"),
    "new_to_opportunities": _first_within("crm_opportunities", "created_at"),
    "new_to_support": _first_within("crm_support_tickets", "opened_at"),
    "new_customers": _first_within("crm_jobs", "finished_at", _COMPLETED),
    "active_customers": """
SELECT DISTINCT profile_id FROM crm_jobs
WHERE status = 'completed' AND finished_at >= :d365 AND finished_at <= :now""",
    "inactive_customers": """
SELECT DISTINCT j.profile_id FROM crm_jobs j
WHERE j.status = 'completed' AND j.finished_at < :d365
  AND NOT EXISTS (SELECT FROM crm_jobs a WHERE a.profile_id = j.profile_id
                  AND a.status = 'completed' AND a.finished_at >= :d365)""",
    "customers": "SELECT DISTINCT profile_id FROM crm_jobs WHERE status = 'completed'",
    "customers_in_region": "SELECT id AS profile_id FROM crm_profiles WHERE lower(region) = 'california'",
    "bought_in_categories": """
SELECT DISTINCT j.profile_id FROM crm_job_lines l
JOIN crm_jobs j ON j.id = l.job_id AND j.status = 'completed'
JOIN crm_products p ON p.id = l.product_id
WHERE p.category_id IN (SELECT id FROM crm_categories
                        WHERE lower(name) IN ('solar panels', 'home batteries', 'ev charging'))""",
    "firmographics_only": f"{_PROFILES} {_FIRMO} AND NOT coalesce({_DEMO}, false)",
    "demographics_only": f"{_PROFILES} {_DEMO} AND NOT coalesce({_FIRMO}, false)",
    "demographics_or_firmographics": f"{_PROFILES} {_FIRMO} OR {_DEMO}",
    "price_range": """
SELECT profile_id FROM crm_quotes WHERE total BETWEEN 1000 AND 10000
UNION SELECT profile_id FROM crm_jobs WHERE amount BETWEEN 1000 AND 10000
UNION SELECT profile_id FROM crm_opportunities WHERE value BETWEEN 1000 AND 10000""",
    "rfm_vip": f"SELECT profile_id FROM {RFM} WHERE recency >= 4 AND frequency >= 4 AND monetary >= 4",
    "rfm_big_spender": f"SELECT profile_id FROM {RFM} WHERE monetary >= 4 AND frequency <= 2",
    "rfm_loyal": f"SELECT profile_id FROM {RFM} WHERE recency >= 4 AND frequency >= 3 AND monetary <= 3",
    "rfm_high_value_churned": f"SELECT profile_id FROM {RFM} WHERE monetary >= 4 AND recency <= 2",
    "rfm_low_value_churned": f"""SELECT profile_id FROM {RFM}
        WHERE recency <= 2 AND frequency <= 2 AND monetary <= 2""",
    "rfm_new_customer": f"SELECT profile_id FROM {RFM} WHERE recency >= 4 AND frequency = 1",
    "quoted_not_converted": """
SELECT DISTINCT q.profile_id FROM crm_quotes q
WHERE q.status = 'sent' AND q.sent_at < :d14
  AND NOT EXISTS (SELECT FROM crm_jobs j WHERE j.profile_id = q.profile_id AND j.created_at > q.sent_at)""",
}

CREATE = f"""
CREATE TABLE IF NOT EXISTS {MEMBERS} (
    segment_id integer NOT NULL, profile_id integer NOT NULL REFERENCES crm_profiles (id) ON DELETE CASCADE,
    entered_at timestamptz NOT NULL, PRIMARY KEY (segment_id, profile_id));
CREATE INDEX IF NOT EXISTS ix_{MEMBERS}_profile ON {MEMBERS} (profile_id, segment_id);
CREATE TABLE IF NOT EXISTS {EVENTS} (
    id serial PRIMARY KEY, segment_id integer NOT NULL,
    profile_id integer NOT NULL REFERENCES crm_profiles (id) ON DELETE CASCADE,
    kind varchar(7) NOT NULL, occurred_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS ix_{EVENTS}_profile ON {EVENTS} (profile_id, occurred_at);
CREATE INDEX IF NOT EXISTS ix_{EVENTS}_segment ON {EVENTS} (segment_id, occurred_at);
CREATE TABLE IF NOT EXISTS {RFM} (
    profile_id integer PRIMARY KEY REFERENCES crm_profiles (id) ON DELETE CASCADE,
    recency integer NOT NULL, frequency integer NOT NULL, monetary integer NOT NULL,
    last_purchase_at timestamptz, purchase_count integer NOT NULL, total_spent numeric(14, 2) NOT NULL);
CREATE INDEX IF NOT EXISTS ix_{RFM}_cell ON {RFM} (recency, frequency, profile_id);
CREATE TABLE IF NOT EXISTS {COUNTS} (id integer PRIMARY KEY, member_count integer NOT NULL);
CREATE TABLE IF NOT EXISTS {SOURCES} (
    segment_id integer NOT NULL, source varchar(80) NOT NULL, members integer NOT NULL,
    PRIMARY KEY (segment_id, source));
CREATE TABLE IF NOT EXISTS {DAYS} (
    segment_id integer NOT NULL, day date NOT NULL, entered integer NOT NULL, exited integer NOT NULL,
    PRIMARY KEY (segment_id, day));
"""

# Rank-based quintiles of completed jobs (unknown last dates rank oldest), in whole cents.
_SCORES = """
WITH p AS (SELECT profile_id, max(finished_at) AS last_at, count(*) AS jobs,
                  sum(round(amount * 100)) AS cents
           FROM crm_jobs WHERE status = 'completed' GROUP BY profile_id)
SELECT profile_id,
       1 + (rank() OVER (ORDER BY last_at NULLS FIRST) - 1) * 5 / count(*) OVER () AS recency,
       1 + (rank() OVER (ORDER BY jobs) - 1) * 5 / count(*) OVER () AS frequency,
       1 + (rank() OVER (ORDER BY cents) - 1) * 5 / count(*) OVER () AS monetary,
       last_at, jobs, cents / 100 AS total
FROM p"""

# Scores into a temporary table, then only the rows that differ are written.
RFM_STATEMENTS = (
    f"CREATE TEMPORARY TABLE hand_scores ON COMMIT DROP AS {_SCORES}",
    "ALTER TABLE hand_scores ADD PRIMARY KEY (profile_id)",
    f"""UPDATE {RFM} h SET recency = s.recency, frequency = s.frequency, monetary = s.monetary,
        last_purchase_at = s.last_at, purchase_count = s.jobs, total_spent = s.total
        FROM hand_scores s WHERE s.profile_id = h.profile_id
        AND (h.recency, h.frequency, h.monetary, h.last_purchase_at, h.purchase_count, h.total_spent)
            IS DISTINCT FROM (s.recency, s.frequency, s.monetary, s.last_at, s.jobs, s.total)""",
    f"""INSERT INTO {RFM} SELECT s.* FROM hand_scores s
        WHERE NOT EXISTS (SELECT FROM {RFM} h WHERE h.profile_id = s.profile_id) ORDER BY s.profile_id""",
    f"DELETE FROM {RFM} h WHERE NOT EXISTS (SELECT FROM hand_scores s WHERE s.profile_id = h.profile_id)",
)

# One statement per segment: the rule's ids once, members added and removed, events written.
_DIFF = """
WITH m AS MATERIALIZED ({rule}),
ins AS (INSERT INTO {members} (segment_id, profile_id, entered_at)
        SELECT :seg, m.profile_id, :now FROM m
        WHERE NOT EXISTS (SELECT FROM {members} h WHERE h.segment_id = :seg AND h.profile_id = m.profile_id)
        ORDER BY 2 RETURNING profile_id),
del AS (DELETE FROM {members} h WHERE h.segment_id = :seg
        AND NOT EXISTS (SELECT FROM m WHERE m.profile_id = h.profile_id) RETURNING profile_id),
ev AS (INSERT INTO {events} (segment_id, profile_id, kind, occurred_at)
       SELECT :seg, profile_id, 'entered', :now FROM ins
       UNION ALL SELECT :seg, profile_id, 'exited', :now FROM del)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM del)"""

_FILL = """INSERT INTO {members} (segment_id, profile_id, entered_at)
SELECT :seg, m.profile_id, :now FROM ({rule}) m ORDER BY 2"""


def params(now: dt.datetime) -> dict[str, Any]:
    return {"now": now, "d14": now - dt.timedelta(days=14), "d90": now - dt.timedelta(days=90),
            "d365": now - dt.timedelta(days=365)}


def settings(connection: Connection) -> None:
    """The session settings the product's refresh runs with (refresh.refresh_settings)."""
    connection.execute(text("SET jit = off"))
    connection.execute(text("SET work_mem = '64MB'"))


def create_tables(connection: Connection) -> None:
    connection.execute(text(CREATE))


def empty_tables(connection: Connection) -> None:
    connection.execute(text(f"TRUNCATE {MEMBERS}, {EVENTS}, {RFM}, {COUNTS}, {SOURCES}, {DAYS}"))


def recompute(connection: Connection, segment_ids: dict[str, int], *, now: dt.datetime,
              first_fill: bool = False) -> dict[str, float]:
    """RFM scores then every segment, each committed on its own; the seconds each took (``rfm``
    and one per segment key, commits included)."""
    bound = params(now)
    started = time.perf_counter()
    for statement in RFM_STATEMENTS:
        connection.execute(text(statement))
    connection.commit()
    seconds = {"rfm": time.perf_counter() - started}
    for key, rule in SEGMENTS.items():
        started = time.perf_counter()
        values = {**bound, "seg": segment_ids[key]}
        template = _FILL if first_fill else _DIFF
        connection.execute(text(template.format(members=MEMBERS, events=EVENTS, rule=rule)), values)
        connection.commit()
        seconds[key] = time.perf_counter() - started
    return seconds


def count_members(connection: Connection) -> None:
    """The counts the one-profile statement keeps, computed afresh from the hand memberships and events."""
    connection.execute(text(f"TRUNCATE {COUNTS}, {SOURCES}, {DAYS}"))
    connection.execute(text(f"INSERT INTO {COUNTS} SELECT segment_id, count(*) FROM {MEMBERS} GROUP BY 1"))
    connection.execute(text(f"""INSERT INTO {SOURCES}
        SELECT m.segment_id, coalesce(p.acquisition_source, ''), count(*)
        FROM {MEMBERS} m JOIN crm_profiles p ON p.id = m.profile_id GROUP BY 1, 2"""))
    connection.execute(text(f"""INSERT INTO {DAYS}
        SELECT segment_id, CAST((occurred_at AT TIME ZONE 'UTC') AS date),
               count(*) FILTER (WHERE kind = 'entered'), count(*) FILTER (WHERE kind = 'exited')
        FROM {EVENTS} GROUP BY 1, 2"""))


def one_profile_statement(segment_ids: dict[str, int]) -> str:
    """One statement bringing every segment's membership of ``:pid`` up to date (RFM scores as
    stored): which segments it matches, members added and removed, events written, and the counts the
    product keeps with them (members per segment and per acquisition source, entries and exits per day)."""
    matches = "\nUNION ALL ".join(
        f"SELECT {segment_ids[key]} AS segment_id WHERE EXISTS (SELECT FROM ({rule}) m{n} "
        f"WHERE m{n}.profile_id = :pid)"
        for n, (key, rule) in enumerate(SEGMENTS.items()))
    every = ", ".join(str(segment_ids[key]) for key in SEGMENTS)
    return f"""
WITH should AS MATERIALIZED ({matches}),
ins AS (INSERT INTO {MEMBERS} (segment_id, profile_id, entered_at)
        SELECT s.segment_id, :pid, :now FROM should s
        WHERE NOT EXISTS (SELECT FROM {MEMBERS} h WHERE h.segment_id = s.segment_id AND h.profile_id = :pid)
        RETURNING segment_id),
del AS (DELETE FROM {MEMBERS} h WHERE h.profile_id = :pid AND h.segment_id IN ({every})
        AND h.segment_id NOT IN (SELECT segment_id FROM should) RETURNING segment_id),
moved AS MATERIALIZED (SELECT segment_id, 1 AS entered, 0 AS exited FROM ins
                       UNION ALL SELECT segment_id, 0, 1 FROM del),
ev AS (INSERT INTO {EVENTS} (segment_id, profile_id, kind, occurred_at)
       SELECT segment_id, :pid, CASE WHEN entered = 1 THEN 'entered' ELSE 'exited' END, :now FROM moved),
counted AS (UPDATE {COUNTS} c SET member_count = c.member_count + m.entered - m.exited
            FROM moved m WHERE c.id = m.segment_id),
sources AS (INSERT INTO {SOURCES} AS t (segment_id, source, members)
            SELECT m.segment_id, coalesce(p.acquisition_source, ''), m.entered - m.exited
            FROM moved m JOIN crm_profiles p ON p.id = :pid
            ON CONFLICT (segment_id, source) DO UPDATE SET members = t.members + EXCLUDED.members),
days AS (INSERT INTO {DAYS} AS t (segment_id, day, entered, exited)
         SELECT segment_id, CAST((CAST(:now AS timestamptz) AT TIME ZONE 'UTC') AS date), entered, exited
         FROM moved
         ON CONFLICT (segment_id, day) DO UPDATE
         SET entered = t.entered + EXCLUDED.entered, exited = t.exited + EXCLUDED.exited)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM del)"""


def differences(connection: Connection, segment_ids: dict[str, int],
                profile_id: int | None = None) -> dict[str, int]:
    """Profiles in one membership and not the other, per segment that differs (product vs hand)."""
    only = "AND profile_id = :pid" if profile_id is not None else ""
    rows = connection.execute(text(f"""
        SELECT coalesce(p.segment_id, h.segment_id), count(*)
        FROM (SELECT segment_id, profile_id FROM crm_segment_members
              WHERE segment_id = ANY(:ids) {only}) p
        FULL JOIN (SELECT segment_id, profile_id FROM {MEMBERS} WHERE true {only}) h
          ON h.segment_id = p.segment_id AND h.profile_id = p.profile_id
        WHERE p.profile_id IS NULL OR h.profile_id IS NULL GROUP BY 1"""),
        {"ids": list(segment_ids.values()), "pid": profile_id})
    keys = {v: k for k, v in segment_ids.items()}
    return {keys[int(segment_id)]: int(count) for segment_id, count in rows}

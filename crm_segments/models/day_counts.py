"""Counts per day kept by triggers, for the home dashboard: segment entries and exits per segment and
day, and messages sent, delivered, opened and clicked per day they were sent.

Triggers on crm_segment_events and crm_messages write them in the writer's transaction, whoever
writes (a refresh, a static-list edit, the sender, a delivery event, an erasure, plain SQL), so a
count is never lost nor counted twice on a retry: it commits or rolls back with the rows it counts.
A message counts when it has a ``sent_at`` and is not a note to an owner (``recipient_user_id``);
its delivered, opened and clicked marks count on the day it was sent.

Messages are counted in ``MESSAGE_SLOTS`` rows per day (PostgreSQL: by server process) so that
concurrent senders do not queue on one row; a day's figure is the sum of its slots.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, SmallInteger
from sqlalchemy.orm import Mapped, mapped_column

from crm_segments.db import Base

from .count_triggers import Counts
from .schema_ddl import run_after_create_all

MESSAGE_SLOTS = 16


class SegmentDay(Base):
    __tablename__ = "crm_segment_days"

    segment_id: Mapped[int] = mapped_column(
        ForeignKey("crm_segments.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)  # UTC
    entered: Mapped[int] = mapped_column(default=0)
    exited: Mapped[int] = mapped_column(default=0)


class MessageDay(Base):
    __tablename__ = "crm_message_days"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)  # the UTC day of sent_at
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    sent: Mapped[int] = mapped_column(default=0)
    delivered: Mapped[int] = mapped_column(default=0)
    opened: Mapped[int] = mapped_column(default=0)
    clicked: Mapped[int] = mapped_column(default=0)


# --- PostgreSQL ------------------------------------------------------------------------------------
# Segment events are written in bulk (a refresh inserts one per profile that changed): counted once
# per statement (count_triggers.py).
_PG_EVENT_DAYS = """SELECT segment_id, CAST((occurred_at AT TIME ZONE 'UTC') AS date) AS day,
           count(*) FILTER (WHERE kind = 'entered') AS entered,
           count(*) FILTER (WHERE kind = 'exited') AS exited
    FROM {rows} GROUP BY 1, 2"""
_SEGMENT_DAYS = Counts("crm_segment_days", ("segment_id", "day"),
                       (("entered", "entered"), ("exited", "exited")))

# Messages are marked sent and delivered in groups (one UPDATE per group of answers or events): a
# statement-level count per statement, as for the events. A row trigger here upserted the same
# counter row once per message, and PostgreSQL walks every version of that row made earlier in the
# transaction: a group of 64 sent marks cost three times the UPDATE itself.
def _pg_message_rows(rows: str, sign: str) -> str:
    return f"""SELECT CAST((sent_at AT TIME ZONE 'UTC') AS date) AS day, {sign}1 AS sent,
               {sign}(delivered_at IS NOT NULL)::int AS delivered,
               {sign}(opened_at IS NOT NULL)::int AS opened, {sign}(clicked_at IS NOT NULL)::int AS clicked
        FROM {rows} WHERE sent_at IS NOT NULL AND recipient_user_id IS NULL"""


def _pg_message_add(*parts: str) -> str:
    return f"""INSERT INTO crm_message_days AS d (day, slot, sent, delivered, opened, clicked)
        SELECT day, mod(pg_backend_pid(), {MESSAGE_SLOTS}), sum(sent), sum(delivered), sum(opened),
               sum(clicked)
        FROM ({" UNION ALL ".join(parts)}) c GROUP BY day
        HAVING sum(sent) <> 0 OR sum(delivered) <> 0 OR sum(opened) <> 0 OR sum(clicked) <> 0
        ORDER BY day
        ON CONFLICT (day, slot) DO UPDATE SET sent = d.sent + EXCLUDED.sent,
            delivered = d.delivered + EXCLUDED.delivered, opened = d.opened + EXCLUDED.opened,
            clicked = d.clicked + EXCLUDED.clicked"""


_PG_MESSAGE_FUNCTIONS = (
    f"""CREATE OR REPLACE FUNCTION crm_messages_count_days() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            {_pg_message_add(_pg_message_rows("new_rows", ""))};
        ELSIF TG_OP = 'UPDATE' THEN
            {_pg_message_add(_pg_message_rows("new_rows", ""), _pg_message_rows("old_rows", "-"))};
        ELSE
            {_pg_message_add(_pg_message_rows("old_rows", "-"))};
        END IF;
        RETURN NULL;
    END $$""",
)

POSTGRESQL: tuple[str, ...] = (
    *_SEGMENT_DAYS.of_rows("crm_segment_events", function="crm_segment_events_count_days",
                           trigger="crm_segment_events_count",
                           counts=lambda rows: _PG_EVENT_DAYS.format(rows=rows)),
    """CREATE OR REPLACE FUNCTION crm_day_counts_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_TABLE_NAME = 'crm_segment_events' THEN
            DELETE FROM crm_segment_days;
        ELSE
            DELETE FROM crm_message_days;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER crm_segment_events_count_truncate AFTER TRUNCATE ON crm_segment_events
    FOR EACH STATEMENT EXECUTE FUNCTION crm_day_counts_truncated()""",
    *_PG_MESSAGE_FUNCTIONS,
    """CREATE TRIGGER crm_messages_count_insert AFTER INSERT ON crm_messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm_messages_count_days()""",
    """CREATE TRIGGER crm_messages_count_update AFTER UPDATE ON crm_messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm_messages_count_days()""",
    """CREATE TRIGGER crm_messages_count_delete AFTER DELETE ON crm_messages
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION crm_messages_count_days()""",
    """CREATE TRIGGER crm_messages_count_truncate AFTER TRUNCATE ON crm_messages
    FOR EACH STATEMENT EXECUTE FUNCTION crm_day_counts_truncated()""",
)

# SQLite's row triggers fire only when a counted column changes.
_MESSAGE_CHANGED = ("OLD.sent_at IS NOT NEW.sent_at OR OLD.delivered_at IS NOT NEW.delivered_at OR "
                    "OLD.opened_at IS NOT NEW.opened_at OR OLD.clicked_at IS NOT NEW.clicked_at OR "
                    "OLD.recipient_user_id IS NOT NEW.recipient_user_id")
_COUNTED_COLUMNS = "sent_at, delivered_at, opened_at, clicked_at, recipient_user_id"

# --- SQLite: row triggers (one writer at a time; SQLAlchemy stores dates as 'YYYY-MM-DD') -----------
_SQLITE_EVENT_ADD = """INSERT INTO crm_segment_days (segment_id, day, entered, exited)
    VALUES (NEW.segment_id, date(NEW.occurred_at), NEW.kind = 'entered', NEW.kind = 'exited')
    ON CONFLICT (segment_id, day) DO UPDATE
    SET entered = entered + excluded.entered, exited = exited + excluded.exited"""
_SQLITE_EVENT_TAKE = """UPDATE crm_segment_days SET entered = entered - (OLD.kind = 'entered'),
    exited = exited - (OLD.kind = 'exited')
    WHERE segment_id = OLD.segment_id AND day = date(OLD.occurred_at)"""


def _sqlite_message_add(row: str, sign: str) -> str:
    return f"""INSERT INTO crm_message_days (day, slot, sent, delivered, opened, clicked)
    VALUES (date({row}.sent_at), 0, {sign}1, {sign}({row}.delivered_at IS NOT NULL),
            {sign}({row}.opened_at IS NOT NULL), {sign}({row}.clicked_at IS NOT NULL))
    ON CONFLICT (day, slot) DO UPDATE SET sent = sent + excluded.sent,
        delivered = delivered + excluded.delivered, opened = opened + excluded.opened,
        clicked = clicked + excluded.clicked"""


def _sqlite_counted(row: str) -> str:
    return f"{row}.sent_at IS NOT NULL AND {row}.recipient_user_id IS NULL"



SQLITE: tuple[str, ...] = (
    f"""CREATE TRIGGER IF NOT EXISTS crm_segment_events_count_insert AFTER INSERT ON crm_segment_events
    FOR EACH ROW BEGIN {_SQLITE_EVENT_ADD}; END""",
    f"""CREATE TRIGGER IF NOT EXISTS crm_segment_events_count_update AFTER UPDATE ON crm_segment_events
    FOR EACH ROW BEGIN {_SQLITE_EVENT_TAKE}; {_SQLITE_EVENT_ADD}; END""",
    f"""CREATE TRIGGER IF NOT EXISTS crm_segment_events_count_delete AFTER DELETE ON crm_segment_events
    FOR EACH ROW BEGIN {_SQLITE_EVENT_TAKE}; END""",
    f"""CREATE TRIGGER IF NOT EXISTS crm_messages_count_insert AFTER INSERT ON crm_messages
    FOR EACH ROW WHEN {_sqlite_counted("NEW")} BEGIN {_sqlite_message_add("NEW", "+")}; END""",
    f"""CREATE TRIGGER IF NOT EXISTS crm_messages_count_update_old AFTER UPDATE OF {_COUNTED_COLUMNS}
    ON crm_messages FOR EACH ROW WHEN {_sqlite_counted("OLD")} AND ({_MESSAGE_CHANGED})
    BEGIN {_sqlite_message_add("OLD", "-")}; END""",
    f"""CREATE TRIGGER IF NOT EXISTS crm_messages_count_update_new AFTER UPDATE OF {_COUNTED_COLUMNS}
    ON crm_messages FOR EACH ROW WHEN {_sqlite_counted("NEW")} AND ({_MESSAGE_CHANGED})
    BEGIN {_sqlite_message_add("NEW", "+")}; END""",
    f"""CREATE TRIGGER IF NOT EXISTS crm_messages_count_delete AFTER DELETE ON crm_messages
    FOR EACH ROW WHEN {_sqlite_counted("OLD")} BEGIN {_sqlite_message_add("OLD", "-")}; END""",
)
DAY_COUNT_TRIGGERS: dict[str, tuple[str, ...]] = {"postgresql": POSTGRESQL, "sqlite": SQLITE}

# The counts of the rows already there, for the migration that adds the tables (run while the counted
# tables are locked against writes, before the triggers exist).
BACKFILL: dict[str, tuple[str, ...]] = {
    "postgresql": (
        "INSERT INTO crm_segment_days (segment_id, day, entered, exited) "
        + _PG_EVENT_DAYS.format(rows="crm_segment_events"),
        """INSERT INTO crm_message_days (day, slot, sent, delivered, opened, clicked)
        SELECT CAST((sent_at AT TIME ZONE 'UTC') AS date), 0, count(*), count(delivered_at),
               count(opened_at), count(clicked_at)
        FROM crm_messages WHERE sent_at IS NOT NULL AND recipient_user_id IS NULL GROUP BY 1""",
    ),
    "sqlite": (
        """INSERT INTO crm_segment_days (segment_id, day, entered, exited)
        SELECT segment_id, date(occurred_at), sum(kind = 'entered'), sum(kind = 'exited')
        FROM crm_segment_events GROUP BY 1, 2""",
        """INSERT INTO crm_message_days (day, slot, sent, delivered, opened, clicked)
        SELECT date(sent_at), 0, count(*), count(delivered_at), count(opened_at), count(clicked_at)
        FROM crm_messages WHERE sent_at IS NOT NULL AND recipient_user_id IS NULL GROUP BY 1""",
    ),
}
DAY_COUNT_TRIGGER_NAMES = (
    *(("crm_segment_events", f"crm_segment_events_count_{op}")
      for op in ("insert", "update", "delete", "truncate")),
    *(("crm_messages", f"crm_messages_count_{op}")
      for op in ("insert", "update", "update_old", "update_new", "delete", "truncate")),
)
DAY_COUNT_FUNCTIONS = ("crm_segment_events_count_days", "crm_day_counts_truncated", "crm_messages_count_days")


run_after_create_all(DAY_COUNT_TRIGGERS)

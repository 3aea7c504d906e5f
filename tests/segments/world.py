"""A small CRM world for the cross-database tests: generated as plain dicts, loaded as table rows,
and handed to the reference evaluator as per-profile data, so the SQL and Python sides read the very
same facts."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st
from sqlalchemy import insert
from sqlalchemy.engine import Connection

from crm_segments.models import (
    Category,
    Job,
    JobLine,
    JobTag,
    Opportunity,
    OpportunityTag,
    Product,
    Profile,
    ProfileTag,
    Quote,
    QuoteTag,
    RfmScore,
    Segment,
    SegmentMember,
    SupportTicket,
    Tag,
)
from crm_segments.models.profiles import (
    CONSENT_SOURCES,
    EDUCATION_LEVELS,
    FAMILY_STATUSES,
    GENDERS,
    INCOME_BANDS,
    LIFECYCLE_STATUSES,
)
from crm_segments.models.records import (
    JOB_STATUSES,
    OPPORTUNITY_STAGES,
    QUOTE_STATUSES,
    TICKET_PRIORITIES,
    TICKET_STATUSES,
)
from crm_segments.models.tags import TAG_SOURCES, normalize_tag_name
from crm_segments.segments.periods import Unit, shift, start_of_day

# Values chosen so rules hit, miss and straddle: case, wildcards, spaces, non-ASCII letters.
TEXTS = ["Ontario", "ontario", "ONTARIO", "Quebec", "Nova Scotia", "On%tario", "a_b", "Ébec", "ébec",
         " ", "", "x/y"]
NUMBERS = [0, 1, 5, 10, 250]
MONEY = [Decimal("0.00"), Decimal("10.10"), Decimal("20.20"), Decimal("30.30"), Decimal("1000.00")]
DATES = [dt.date(2000, 2, 29), dt.date(1990, 3, 15), dt.date(1985, 3, 20), dt.date(1970, 12, 31),
         dt.date(1999, 1, 1), dt.date(2001, 2, 28), dt.date(1980, 3, 1), dt.date(2024, 3, 1),
         dt.date(2023, 12, 30)]
# Offsets from "now": exact window edges and a microsecond on either side of them.
OFFSETS = [dt.timedelta(0), dt.timedelta(days=-14), dt.timedelta(days=-14, microseconds=-1),
           dt.timedelta(days=-14, microseconds=1), dt.timedelta(hours=-1), dt.timedelta(days=2),
           dt.timedelta(days=-30), dt.timedelta(days=-400), dt.timedelta(days=-7, hours=-5),
           dt.timedelta(days=-91)]
EDGE_PERIODS: list[tuple[int, Unit]] = [(1, "days"), (7, "days"), (14, "days"), (30, "days"), (1, "weeks"),
                                     (2, "weeks"), (1, "months"), (2, "months")]
TAG_NAMES = ["VIP", "Gold", "Late payer", "Ünïcode"]
CUSTOMS: list[dict[str, Any] | None] = [
    None, {}, {"pets": 2}, {"pets": "two"}, {"pets": 2.5}, {"vip": True}, {"vip": False},
    {"since": "2024-03-01"}, {"nick": "Ontario", "pets": 0}, {"pets": None}, {"since": 20240301},
]
CATEGORIES = {1: "Roofing", 2: "Gutters", 3: "roofing supplies"}
PRODUCTS = {1: ("SKU-1", "Shingles", 1), 2: ("SKU-2", "Gutter guard", 2), 3: ("sku_3", "Nails", 3),
            4: ("SKU-4", "Labour", None)}
SEGMENTS = {1: "seg_a", 2: "seg_b"}


@dataclass(repr=False)
class World:
    now: dt.datetime
    seed: int = 0
    rows: dict[Any, list[dict[str, Any]]] = field(default_factory=dict)
    profiles: dict[int, dict[str, Any]] = field(default_factory=dict)  # reference data by profile id

    def __repr__(self) -> str:  # hypothesis prints the failing example: keep it short and rebuildable
        return f"build_world({self.now!r}, seed={self.seed}, profiles={len(self.profiles)})"

    def load(self, connection: Connection) -> None:
        for model, rows in self.rows.items():
            if rows:
                connection.execute(insert(model), rows)


def edge_moments(now: dt.datetime) -> list[dt.datetime]:
    """Instants on and a microsecond either side of the edges rules draw: N days / weeks / months
    ago or ahead, and UTC midnights."""
    tick = dt.timedelta(microseconds=1)
    edges = [shift(now, sign * n, unit) for n, unit in EDGE_PERIODS for sign in (-1, 1)]
    midnight = start_of_day(now.date())
    edges += [midnight, midnight + dt.timedelta(days=1), start_of_day(dt.date(2024, 3, 1))]
    return [e + d for e in edges for d in (-tick, dt.timedelta(0), tick)]


def edge_dates(now: dt.datetime) -> list[dt.date]:
    """Today and days N away; past-year dates whose anniversaries fall at the window's edges."""
    today = now.date()
    near = [shift(today, sign * n, unit) for n, unit in EDGE_PERIODS for sign in (-1, 1)]
    anniversaries = []
    for days in (-1, 0, 1, 2, 3, 4, 14, 15, 60, 61):
        day = today + dt.timedelta(days=days)
        if (day.month, day.day) != (2, 29):
            anniversaries.append(day.replace(year=1990))
    return [today, *near, *anniversaries]


def worlds(now: dt.datetime, profiles: int = 20) -> st.SearchStrategy[World]:
    """Worlds from a drawn seed: plain ``random`` builds them far faster than per-value draws."""
    return st.integers(0, 2**32 - 1).map(lambda seed: build_world(now, seed, profiles))


class _Draw:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pick(self, values: Sequence[Any]) -> Any:
        return self.rng.choice(values)

    def maybe(self, values: Sequence[Any]) -> Any:
        return None if self.rng.random() < 0.2 else self.rng.choice(values)

    def flip(self) -> bool:
        return self.rng.random() < 0.5

    def count(self, high: int) -> int:
        return self.rng.randint(0, high)


def build_world(now: dt.datetime, seed: int, profiles: int) -> World:
    rng = random.Random(seed)
    draw = _Draw(rng)
    world = World(now, seed)
    rows = world.rows
    for model in (Profile, Tag, Category, Product, Segment, ProfileTag, Quote, QuoteTag, Job, JobLine,
                  JobTag, Opportunity, OpportunityTag, SupportTicket, RfmScore, SegmentMember):
        rows[model] = []
    tag_ids = {normalize_tag_name(n): i + 1 for i, n in enumerate(TAG_NAMES)}
    rows[Tag] = [{"id": i, "name": n, "name_key": normalize_tag_name(n)} for n, i in
                 zip(TAG_NAMES, tag_ids.values(), strict=True)]
    rows[Category] = [{"id": i, "external_id": f"C{i}", "name": n} for i, n in CATEGORIES.items()]
    rows[Product] = [{"id": i, "external_id": f"P{i}", "sku": s, "name": n, "category_id": c}
                     for i, (s, n, c) in PRODUCTS.items()]
    rows[Segment] = [{"id": i, "key": k, "name": f"Segment {k}", "kind": "static"}
                     for i, k in SEGMENTS.items()]

    moments = edge_moments(now)
    dates = [*DATES, *edge_dates(now)]

    def moment() -> dt.datetime:
        return draw.pick(moments) if rng.random() < 0.8 else now + draw.pick(OFFSETS)

    def maybe_moment() -> dt.datetime | None:
        return None if rng.random() < 0.25 else moment()

    def random_tags() -> list[dict[str, Any]]:
        names = rng.sample(TAG_NAMES, draw.count(2))
        return [{"name": n, "source": draw.pick(TAG_SOURCES), "added_at": moment()} for n in names]

    counter = {"quote": 0, "job": 0, "line": 0, "opp": 0, "ticket": 0}

    def next_id(kind: str) -> int:
        counter[kind] += 1
        return counter[kind]

    def attach(model: Any, entity_id: int, tags: list[dict[str, Any]]) -> None:
        for t in tags:
            rows[model].append({"entity_id": entity_id, "tag_id": tag_ids[normalize_tag_name(t["name"])],
                                "source": t["source"], "added_at": t["added_at"]})

    for pid in range(1, profiles + 1):
        profile = {
            "id": pid, "external_id": f"E{pid}",
            **{name: draw.maybe(TEXTS) for name in (
                "first_name", "last_name", "email", "company", "industry", "city", "region",
                "acquisition_source")},
            "company_size": draw.maybe(NUMBERS),
            "annual_revenue": draw.maybe(MONEY),
            "birth_date": draw.maybe(dates),
            "gender": draw.maybe(list(GENDERS)),
            "income_band": draw.maybe(list(INCOME_BANDS)),
            "education": draw.maybe(list(EDUCATION_LEVELS)),
            "family_status": draw.maybe(list(FAMILY_STATUSES)),
            "lifecycle_status": draw.pick(LIFECYCLE_STATUSES),
            "email_consent": draw.flip(),
            "email_consent_at": maybe_moment(),
            "email_consent_source": draw.maybe(list(CONSENT_SOURCES)),
            "sms_consent": draw.flip(),
            "sms_consent_at": maybe_moment(),
            "email_bounced_at": None if draw.flip() else maybe_moment(),
            "custom_attributes": draw.pick(CUSTOMS),
            "created_at": moment(),
            "updated_at": moment(),
        }
        rows[Profile].append(profile)
        tags = random_tags()
        attach(ProfileTag, pid, tags)
        data: dict[str, Any] = {"profile": profile, "tags": tags, "quotes": [], "jobs": [],
                                "opportunities": [], "tickets": [], "purchases": []}
        for _ in range(draw.count(3)):
            qid = next_id("quote")
            quote = {"id": qid, "external_id": f"Q{qid}", "number": f"Q-{qid}", "profile_id": pid,
                     "status": draw.pick(QUOTE_STATUSES), "total": draw.pick(MONEY),
                     "currency": draw.pick(["USD", "cad"]), "sent_at": maybe_moment(),
                     "decided_at": maybe_moment(), "expires_at": maybe_moment(),
                     "created_at": moment(), "updated_at": moment()}
            rows[Quote].append(quote)
            qtags = random_tags()
            attach(QuoteTag, qid, qtags)
            data["quotes"].append({**quote, "tags": qtags})
        for _ in range(draw.count(3)):
            jid = next_id("job")
            job = {"id": jid, "external_id": f"J{jid}", "profile_id": pid,
                   "title": draw.pick(TEXTS), "status": draw.pick(JOB_STATUSES),
                   "amount": draw.pick(MONEY), "currency": "USD",
                   "scheduled_at": maybe_moment(), "started_at": maybe_moment(),
                   "finished_at": maybe_moment(), "created_at": moment(), "updated_at": moment()}
            rows[Job].append(job)
            jtags = random_tags()
            attach(JobTag, jid, jtags)
            data["jobs"].append({**job, "tags": jtags})
            for _ in range(draw.count(2)):
                lid = next_id("line")
                product_id = draw.maybe(list(PRODUCTS))
                line = {"id": lid, "job_id": jid, "product_id": product_id,
                        "quantity": draw.pick([Decimal("1.00"), Decimal("2.50"), Decimal("0.10")]),
                        "amount": draw.pick(MONEY)}
                rows[JobLine].append(line)
                if job["status"] == "completed":
                    sku, name, category = PRODUCTS[product_id] if product_id else (None, None, None)
                    data["purchases"].append({
                        "product": sku, "product_name": name,
                        "category": CATEGORIES[category] if category else None,
                        "quantity": line["quantity"], "amount": line["amount"],
                        "purchased_at": job["finished_at"]})
        for _ in range(draw.count(2)):
            oid = next_id("opp")
            opp = {"id": oid, "external_id": f"O{oid}", "profile_id": pid,
                   "name": draw.pick(TEXTS), "stage": draw.pick(OPPORTUNITY_STAGES),
                   "value": draw.pick(MONEY), "currency": "USD", "source": draw.maybe(TEXTS),
                   "expected_close": draw.maybe(dates), "closed_at": maybe_moment(),
                   "created_at": moment(), "updated_at": moment()}
            rows[Opportunity].append(opp)
            otags = random_tags()
            attach(OpportunityTag, oid, otags)
            data["opportunities"].append({**opp, "tags": otags})
        for _ in range(draw.count(2)):
            tid = next_id("ticket")
            ticket = {"id": tid, "external_id": f"T{tid}", "profile_id": pid,
                      "subject": draw.pick(TEXTS), "status": draw.pick(TICKET_STATUSES),
                      "priority": draw.pick(TICKET_PRIORITIES), "opened_at": moment(),
                      "closed_at": maybe_moment(), "created_at": moment(), "updated_at": moment()}
            rows[SupportTicket].append(ticket)
            data["tickets"].append(ticket)
        if draw.flip():
            scores = {k: rng.randint(1, 5) for k in ("recency", "frequency", "monetary")}
            rows[RfmScore].append({"profile_id": pid, **scores, "computed_at": now})
            data["rfm"] = scores
        segments = rng.sample(list(SEGMENTS), draw.count(2))
        rows[SegmentMember] += [{"segment_id": s, "profile_id": pid} for s in segments]
        data["segments"] = [*segments, *(SEGMENTS[s] for s in segments)]
        world.profiles[pid] = data
    return world

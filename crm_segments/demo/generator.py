"""Deterministic demo data: profiles with three years of quotes, jobs, opportunities and tickets.

Profiles are made in blocks of ``BLOCK_SIZE``, each from its own ``random.Random`` seeded with the
seed and the block number, so the same seed and count give identical rows however the rows are
batched for loading. Ids are assigned here, in order, starting from ``first_ids``.

A profile's history is drawn first and its lifecycle status follows from it (a completed job makes
a customer, a quote or opportunity a prospect), so segments over status and records agree.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from crm_segments.demo.catalog import INSTALLATION_SUBCATEGORY, SERVICES_CATEGORY, CatalogProduct
from crm_segments.demo.geography import FX_FROM_USD, PLACES, POSTAL_FORMATS, Place, phone_number
from crm_segments.demo.people import (
    ACQUISITION,
    CAMPAIGN_THEMES,
    COMPANY_SIZES,
    COMPANY_SUFFIXES,
    COMPANY_WORDS,
    INDUSTRIES,
    INDUSTRY_NOUNS,
    INTERESTS,
    JOB_TITLES,
    NAMES,
    OCCUPATIONS,
    PERSONAL_EMAIL_DOMAINS,
    ascii_slug,
)
from crm_segments.demo.sampling import Weighted, below, between, pick_one
from crm_segments.demo.tables import RECORD_TABLES
from crm_segments.models.profiles import EDUCATION_LEVELS, FAMILY_STATUSES, GENDERS, INCOME_BANDS

BLOCK_SIZE = 250
HISTORY_DAYS = 3 * 365
DAY = 86_400.0
CONTACTS_PER_COMPANY = 8

Row = tuple[Any, ...]

_PROFILE_KINDS = Weighted([("both", 40), ("demographic", 25), ("firmographic", 25), ("neither", 10)])
_GENDERS = Weighted(list(zip(GENDERS, (49, 47, 1.5, 2.5), strict=True)))
_INCOMES = Weighted(list(zip(INCOME_BANDS, (14, 26, 34, 19, 7), strict=True)))
_EDUCATION = Weighted(list(zip(EDUCATION_LEVELS, (30, 18, 32, 15, 5), strict=True)))
_FAMILY = Weighted(list(zip(FAMILY_STATUSES, (32, 25, 30, 13), strict=True)))
_QUOTE_COUNTS = Weighted([(0, 46), (1, 30), (2, 14), (3, 7), (4, 3)])
_DIRECT_JOB_COUNTS = Weighted([(0, 72), (1, 17), (2, 7), (3, 4)])
_OPPORTUNITY_COUNTS = Weighted([(0, 70), (1, 22), (2, 8)])
_TICKET_COUNTS = Weighted([(0, 68), (1, 21), (2, 8), (3, 3)])
_LINE_COUNTS = Weighted([(1, 30), (2, 35), (3, 22), (4, 13)])
_OPEN_STAGES = Weighted([("prospecting", 30), ("qualification", 30), ("proposal", 25), ("negotiation", 15)])
_OPPORTUNITY_SOURCES = ("inbound", "outbound", "referral", "partner", "event", "website")
_PRIORITIES = Weighted([("low", 25), ("normal", 50), ("high", 20), ("urgent", 5)])
_PREFERRED_CONTACT = ("email", "phone", "sms")
_TICKET_SUBJECTS = (
    "Question about my invoice", "Unit makes a noise", "Reschedule my appointment",
    "Warranty claim", "App not connecting", "System not heating", "System not cooling",
    "Request for maintenance visit", "Billing address change", "Error code on display",
    "Installer left debris", "How do I reset the device?", "Battery not charging", "Leak under unit",
)
_TICKET_BODIES = (
    None, "Please call me back in the afternoon.", "This started after the last service visit.",
    "Photos attached in the customer portal.", "Happy to send more details if needed.",
)


@dataclass(frozen=True, slots=True)
class ProductRef:
    id: int
    product: CatalogProduct


@dataclass(frozen=True, slots=True)
class Reference:
    """Rows the generated records point at, already in the database."""

    products: tuple[ProductRef, ...]
    owner_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Company:
    name: str
    industry: str
    size: int
    revenue: Decimal
    domain: str
    place: Place


@dataclass(frozen=True, slots=True)
class GeneratorSpec:
    """Everything that decides the generated rows; picklable, so another process can generate them."""

    seed: int
    profiles: int
    now: dt.datetime
    reference: Reference
    first_ids: dict[str, int]

    def generator(self) -> DemoGenerator:
        return DemoGenerator(seed=self.seed, profiles=self.profiles, now=self.now,
                             reference=self.reference, first_ids=self.first_ids)


@dataclass
class Batch:
    """Rows for a run of consecutive profiles, by table, in ``RECORD_COLUMNS`` order."""

    profiles: int
    rows: dict[str, list[Row]]


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


_QUANTITIES = [Decimal(q).quantize(Decimal("0.01")) for q in range(0, 101)]


class DemoGenerator:
    """Yields ``Batch``es for ``profiles`` profiles; deterministic for (seed, profiles, now, first_ids)."""

    def __init__(self, *, seed: int, profiles: int, now: dt.datetime, reference: Reference,
                 first_ids: dict[str, int]) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if not reference.products:
            raise ValueError("the demo catalog has no products")
        self.seed = seed
        self.profiles = profiles
        self.now = now.astimezone(dt.UTC)
        self.start = self.now - dt.timedelta(days=HISTORY_DAYS)
        self.span = HISTORY_DAYS * DAY
        self.today = self.now.date()
        self.owner_ids = reference.owner_ids
        self.next_id = {table: first_ids.get(table, 1) for table in RECORD_TABLES}
        self._companies: dict[int, _Company] = {}
        self._company_count = max(20, profiles // CONTACTS_PER_COMPANY)
        self._products = reference.products
        self._main_products = [p for p in reference.products if p.product.category != SERVICES_CATEGORY]
        self._service_products = [p for p in reference.products if p.product.category == SERVICES_CATEGORY]
        self._installations = [p for p in self._service_products
                               if p.product.subcategory == INSTALLATION_SUBCATEGORY]
        self._unit_cents: dict[tuple[int, str], int] = {}

    # -- batches -----------------------------------------------------------------------------------

    def batches(self, batch_size: int = 10_000) -> Iterator[Batch]:
        blocks_per_batch = max(1, batch_size // BLOCK_SIZE)
        blocks = -(-self.profiles // BLOCK_SIZE)
        for first_block in range(0, blocks, blocks_per_batch):
            rows: dict[str, list[Row]] = {table: [] for table in RECORD_TABLES}
            count = 0
            for block in range(first_block, min(blocks, first_block + blocks_per_batch)):
                count += self._block(block, rows)
            yield Batch(count, rows)

    def _block(self, block: int, rows: dict[str, list[Row]]) -> int:
        rng = random.Random(f"crm-demo:{self.seed}:{block}")
        first = block * BLOCK_SIZE
        last = min(self.profiles, first + BLOCK_SIZE)
        for _ in range(first, last):
            self._profile(rng, rows)
        return last - first

    # -- helpers -----------------------------------------------------------------------------------

    def _take_id(self, table: str) -> int:
        value = self.next_id[table]
        self.next_id[table] = value + 1
        return value

    def _at(self, seconds: float) -> dt.datetime:
        """A time ``seconds`` after the start of the history, to the whole second."""
        return self.start + dt.timedelta(seconds=int(seconds))

    def _company(self, index: int) -> _Company:
        company = self._companies.get(index)
        if company is None:
            rng = random.Random(f"crm-demo:{self.seed}:company:{index}")
            industry = INDUSTRIES.pick(rng)
            place = PLACES.pick(rng)
            word = pick_one(rng, COMPANY_WORDS)
            noun = pick_one(rng, INDUSTRY_NOUNS[industry])
            suffix = pick_one(rng, COMPANY_SUFFIXES[place.country])
            name = " ".join(part for part in (word, noun, suffix) if part)
            low, high = COMPANY_SIZES.pick(rng)
            size = between(rng, low, high)
            revenue_thousands = max(50, size * between(rng, 60, 250))
            company = _Company(name, industry, size, _money(revenue_thousands * 100_000),
                               f"{ascii_slug(word)}{ascii_slug(noun)}.example", place)
            self._companies[index] = company
        return company

    def _unit_price(self, ref: ProductRef, currency: str) -> int:
        key = (ref.id, currency)
        cents = self._unit_cents.get(key)
        if cents is None:
            cents = round(ref.product.usd_cents * FX_FROM_USD[currency] / 100) * 100 - 1  # x.99 pricing
            cents = max(cents, 0)
            self._unit_cents[key] = cents
        return cents

    def _lines(self, rng: random.Random, currency: str, *, service_only: bool) -> tuple[list[Row], int]:
        """Line items as (product_id, description, quantity, unit_price, amount) and the total in cents."""
        picks: list[ProductRef] = []
        if service_only:
            picks.append(pick_one(rng, self._service_products))
            if rng.random() < 0.3:
                picks.append(pick_one(rng, self._main_products))
        else:
            main = pick_one(rng, self._main_products)
            picks.append(main)
            if rng.random() < 0.75:
                picks.append(pick_one(rng, self._installations))
            for _ in range(_LINE_COUNTS.pick(rng) - 1):
                picks.append(pick_one(rng, self._products))
        lines: list[Row] = []
        total = 0
        for ref in picks:
            product = ref.product
            quantity = between(rng, product.quantity_low, product.quantity_high)
            unit = self._unit_price(ref, currency)
            if rng.random() < 0.12:  # a negotiated discount
                unit = unit * between(rng, 85, 95) // 100
            amount = unit * quantity
            total += amount
            lines.append((ref.id, product.name, _QUANTITIES[quantity], _money(unit), _money(amount)))
        return lines, total

    # -- one profile -------------------------------------------------------------------------------

    def _profile(self, rng: random.Random, rows: dict[str, list[Row]]) -> None:
        span = self.span
        profile_id = self._take_id("crm_profiles")
        kind = _PROFILE_KINDS.pick(rng)
        firmographic = kind in ("both", "firmographic")
        demographic = kind in ("both", "demographic")

        company = None
        if firmographic:
            company = self._company(below(rng, self._company_count))
        place = company.place if company is not None and rng.random() < 0.7 else PLACES.pick(rng)
        currency = place.currency

        gender: str | None = _GENDERS.pick(rng)
        female_names, male_names, last_names = NAMES[place.culture]
        if gender == "female" or (gender not in ("male", "female") and rng.random() < 0.5):
            first_name = pick_one(rng, female_names)
        else:
            first_name = pick_one(rng, male_names)
        last_name = pick_one(rng, last_names)

        # Growth: more profiles were created recently (density rises linearly over the 3 years).
        created = span * rng.random() ** 0.5
        last_activity = created

        email = None
        if rng.random() < 0.95:
            first_slug, last_slug = ascii_slug(first_name), ascii_slug(last_name)
            style = below(rng, 4)
            if style == 0:
                local = f"{first_slug}.{last_slug}{profile_id}"
            elif style == 1:
                local = f"{first_slug[0]}{last_slug}{profile_id}"
            elif style == 2:
                local = f"{first_slug}{profile_id}"
            else:
                local = f"{first_slug}_{last_slug}{profile_id}"
            if company is not None and rng.random() < 0.6:
                domain = company.domain
            else:
                domain = PERSONAL_EMAIL_DOMAINS[below(rng, len(PERSONAL_EMAIL_DOMAINS))]
            email = f"{local}@{domain}"
        phone = None
        if rng.random() < 0.75:
            areas = place.phone_areas
            phone = phone_number(rng, place.country, areas[below(rng, len(areas))] if areas else "")
        postal_prefixes = place.postal_prefixes
        postal_code = POSTAL_FORMATS[place.country](
            rng, postal_prefixes[below(rng, len(postal_prefixes))]
        )

        job_title = industry = company_name = company_size = revenue = None
        if company is not None:
            company_name, industry = company.name, company.industry
            company_size, revenue = company.size, company.revenue
            job_title = JOB_TITLES.pick(rng)

        birth_date = income = education = occupation = family = interests = None
        if demographic:
            age_years = 18 + (rng.random() + rng.random()) * 31  # triangular, 18..80, peak near 49
            birth_date = self.today - dt.timedelta(days=int(age_years * 365.25))
            income = _INCOMES.pick(rng)
            education = _EDUCATION.pick(rng)
            occupation = "Retired" if age_years > 67 and rng.random() < 0.7 else OCCUPATIONS.pick(rng)
            family = _FAMILY.pick(rng)
            interests = rng.sample(INTERESTS, between(rng, 1, 4))
        else:
            gender = None

        source = channel = campaign = None
        if rng.random() < 0.88:
            channel, sources = ACQUISITION.pick(rng)
            source = sources[below(rng, len(sources))]
            if channel in ("paid_search", "social", "email", "event") and rng.random() < 0.7:
                year = (self.start + dt.timedelta(seconds=created)).year
                campaign = f"{CAMPAIGN_THEMES[below(rng, len(CAMPAIGN_THEMES))]}-{year}"

        # History.
        completed_finishes: list[float] = []
        has_job = won = False
        open_interest = False
        remaining = span - created

        quote_rows = rows["crm_quotes"]
        for _ in range(_QUOTE_COUNTS.pick(rng)):
            quote_created = created + rng.random() * remaining
            quote_id = self._take_id("crm_quotes")
            lines, total = self._lines(rng, currency, service_only=False)
            sent = decided = expires = None
            status = "draft"
            updated = quote_created
            if rng.random() >= 0.06:
                sent = quote_created + rng.random() * 2 * DAY
                expires = sent + 30 * DAY
                outcome = rng.random()
                decision = sent + (1 + rng.random() * 20) * DAY
                if outcome < 0.36:
                    status = "accepted" if decision <= span else "sent"
                elif outcome < 0.66:
                    status = "declined" if decision <= span else "sent"
                else:
                    status = "expired" if expires <= span else "sent"
                if status in ("accepted", "declined"):
                    decided = decision
                if sent > span:  # drafted just now, not sent yet
                    status, sent, expires = "draft", None, None
                updated = decided or (expires if status == "expired" else sent) or quote_created
            open_interest = True
            quote_rows.append((
                quote_id, f"demo-quote-{quote_id}", profile_id, f"Q-{quote_id:07d}", status,
                _money(total), currency,
                None if sent is None else self._at(sent),
                None if decided is None else self._at(decided),
                None if expires is None else self._at(expires),
                self._at(quote_created), self._at(updated),
            ))
            quote_line_rows = rows["crm_quote_lines"]
            for line in lines:
                quote_line_rows.append((self._take_id("crm_quote_lines"), quote_id, *line))
            last_activity = max(last_activity, updated)
            if status == "accepted" and decided is not None:
                finish = self._job(rng, rows, profile_id, quote_id, lines, total, currency, decided,
                                   scheduled_within=30)
                has_job = True
                if finish is not None:
                    completed_finishes.append(finish)
                last_activity = max(last_activity, decided)

        for _ in range(_DIRECT_JOB_COUNTS.pick(rng)):
            job_created = created + rng.random() * remaining
            lines, total = self._lines(rng, currency, service_only=True)
            finish = self._job(rng, rows, profile_id, None, lines, total, currency, job_created,
                               scheduled_within=10)
            has_job = True
            if finish is not None:
                completed_finishes.append(finish)
            last_activity = max(last_activity, job_created)

        opportunity_rows = rows["crm_opportunities"]
        for _ in range(_OPPORTUNITY_COUNTS.pick(rng)):
            opened = created + rng.random() * remaining
            opportunity_id = self._take_id("crm_opportunities")
            value_cents = int(500 * 100 * 120 ** rng.random()) // 100 * 100  # 500 .. 60,000
            close_after = (7 + rng.random() * 93) * DAY
            closed = None
            open_interest = True
            if opened + close_after <= span and rng.random() < 0.9:
                closed = opened + close_after
                stage = "won" if rng.random() < 0.42 else "lost"
                won = won or stage == "won"
            else:
                stage = _OPEN_STAGES.pick(rng)
            topic = pick_one(rng, self._main_products).product.subcategory
            opportunity_rows.append((
                opportunity_id, f"demo-opportunity-{opportunity_id}", profile_id,
                f"{company_name or f'{first_name} {last_name}'} – {topic}", stage, _money(value_cents),
                currency, _OPPORTUNITY_SOURCES[below(rng, len(_OPPORTUNITY_SOURCES))],
                (self.start + dt.timedelta(seconds=opened + (14 + rng.random() * 106) * DAY)).date(),
                None if closed is None else self._at(closed),
                self._at(opened), self._at(closed if closed is not None else opened),
            ))
            last_activity = max(last_activity, closed or opened)

        ticket_rows = rows["crm_support_tickets"]
        ticket_count = _TICKET_COUNTS.pick(rng) if has_job else (1 if rng.random() < 0.05 else 0)
        for _ in range(ticket_count):
            opened = created + rng.random() * remaining
            ticket_id = self._take_id("crm_support_tickets")
            resolved = opened + (1 / 24 + rng.random() ** 2 * 10) * DAY
            if resolved > span:
                status, closed = ("open" if rng.random() < 0.6 else "pending"), None
            elif resolved > span - 4 * DAY:
                status, closed = "solved", None
            else:
                status, closed = "closed", resolved
            at_opened = self._at(opened)
            ticket_rows.append((
                ticket_id, f"demo-ticket-{ticket_id}", profile_id,
                _TICKET_SUBJECTS[below(rng, len(_TICKET_SUBJECTS))],
                _TICKET_BODIES[below(rng, len(_TICKET_BODIES))], status, _PRIORITIES.pick(rng),
                at_opened, None if closed is None else self._at(closed), at_opened,
                self._at(min(resolved, span)),
            ))
            last_activity = max(last_activity, min(resolved, span))

        if completed_finishes:
            lifecycle = "customer"
            # Nothing bought for over a year and quiet since: most such customers have gone.
            if span - max(completed_finishes) > 365 * DAY and span - last_activity > 240 * DAY \
                    and rng.random() < 0.8:
                lifecycle = "churned"
        elif has_job or won:
            lifecycle = "customer"
        elif open_interest:
            lifecycle = "prospect"
        else:
            lifecycle = "lead"

        owner_id = None
        if self.owner_ids and lifecycle != "lead" and rng.random() < 0.7:
            owner_id = self.owner_ids[below(rng, len(self.owner_ids))]

        # Consent, always recorded with its time and source 'demo'.
        email_consent = False
        email_consent_at = email_consent_source = None
        if email is not None:
            draw = rng.random()
            if draw < 0.72:
                email_consent = draw < 0.62
                consent_time = created + rng.random() * min(30 * DAY, remaining)
                if not email_consent:  # opted out later
                    consent_time = created + rng.random() * remaining
                email_consent_at, email_consent_source = self._at(consent_time), "demo"
                last_activity = max(last_activity, consent_time)
        sms_consent = False
        sms_consent_at = sms_consent_source = None
        if phone is not None:
            draw = rng.random()
            if draw < 0.42:
                sms_consent = draw < 0.35
                consent_time = created + rng.random() * remaining
                sms_consent_at, sms_consent_source = self._at(consent_time), "demo"
                last_activity = max(last_activity, consent_time)

        custom: dict[str, Any] | None = None
        if rng.random() < 0.5:
            custom = {"preferred_contact": _PREFERRED_CONTACT[below(rng, 3)]}
            if lifecycle == "customer":
                custom["loyalty_points"] = 10 * below(rng, 500)

        rows["crm_profiles"].append((
            profile_id, f"demo-{profile_id:07d}", owner_id, first_name, last_name, email, phone,
            company_name, job_title, industry, company_size, revenue,
            birth_date, gender, income, education, occupation, family, interests,
            place.city, place.region, place.country, postal_code, place.time_zone,
            source, channel, campaign, lifecycle,
            email_consent, email_consent_at, email_consent_source,
            sms_consent, sms_consent_at, sms_consent_source,
            custom, self._at(created), self._at(last_activity),
        ))

    def _job(self, rng: random.Random, rows: dict[str, list[Row]], profile_id: int, quote_id: int | None,
             lines: list[Row], total: int, currency: str, created: float, *,
             scheduled_within: int) -> float | None:
        """Add a job with ``lines``; returns its finish time when it was completed."""
        span = self.span
        job_id = self._take_id("crm_jobs")
        scheduled = created + (0.5 + rng.random() * scheduled_within) * DAY
        started = scheduled
        finished = started + (2 / 24 + rng.random() ** 3 * 3) * DAY  # mostly hours, a few days
        completed_at = None
        if rng.random() < 0.04:
            status, started_at, finished_at = "cancelled", None, None
            updated = min(scheduled, span)
        elif scheduled > span:
            status, started_at, finished_at = "scheduled", None, None
            updated = created
        elif finished > span:
            status, started_at, finished_at = "in_progress", self._at(started), None
            updated = started
        else:
            status, started_at, finished_at = "completed", self._at(started), self._at(finished)
            updated = completed_at = finished
        rows["crm_jobs"].append((
            job_id, f"demo-job-{job_id}", profile_id, quote_id, f"{lines[0][1]} – J-{job_id:07d}", status,
            _money(total), currency, self._at(scheduled), started_at, finished_at,
            self._at(created), self._at(updated),
        ))
        job_line_rows = rows["crm_job_lines"]
        for line in lines:
            job_line_rows.append((self._take_id("crm_job_lines"), job_id, *line))
        return completed_at

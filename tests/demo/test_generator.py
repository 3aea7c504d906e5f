"""The demo generator without a database: deterministic, realistic, and within the models' rules."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from crm_segments.demo.catalog import categories, products
from crm_segments.demo.generator import BLOCK_SIZE, DemoGenerator, GeneratorSpec, ProductRef, Reference
from crm_segments.demo.tables import RECORD_COLUMNS, RECORD_TABLES
from crm_segments.models.profiles import (
    CONSENT_SOURCES,
    DEMOGRAPHIC_FIELDS,
    EDUCATION_LEVELS,
    FAMILY_STATUSES,
    FIRMOGRAPHIC_FIELDS,
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

NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
HISTORY_START = NOW - dt.timedelta(days=3 * 365)
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
REFERENCE = Reference(
    products=tuple(ProductRef(index + 1, product) for index, product in enumerate(products())),
    owner_ids=(1, 2, 3),
)

Rows = dict[str, list[dict[str, Any]]]


def generate(seed: int = 1, profiles: int = 2000, batch_size: int = 10_000) -> Rows:
    spec = GeneratorSpec(seed=seed, profiles=profiles, now=NOW, reference=REFERENCE, first_ids={})
    rows: Rows = {table: [] for table in RECORD_TABLES}
    for batch in spec.generator().batches(batch_size):
        for table, table_rows in batch.rows.items():
            columns = RECORD_COLUMNS[table]
            rows[table].extend(dict(zip(columns, row, strict=True)) for row in table_rows)
    return rows


@pytest.fixture(scope="module")
def data() -> Rows:
    return generate()


def test_same_seed_and_count_give_identical_rows(data: Rows) -> None:
    assert generate() == data


def test_batching_does_not_change_the_rows(data: Rows) -> None:
    assert generate(batch_size=BLOCK_SIZE) == data


def test_another_seed_gives_other_rows(data: Rows) -> None:
    other = generate(seed=2)
    assert other["crm_profiles"] != data["crm_profiles"]
    assert [p["email"] for p in other["crm_profiles"]] != [p["email"] for p in data["crm_profiles"]]


def test_ids_are_consecutive_from_the_first_ids() -> None:
    spec = GeneratorSpec(seed=1, profiles=50, now=NOW, reference=REFERENCE,
                         first_ids={"crm_profiles": 101, "crm_quotes": 7})
    batch = next(spec.generator().batches())
    assert [row[0] for row in batch.rows["crm_profiles"]] == list(range(101, 151))
    assert [row[0] for row in batch.rows["crm_quotes"]] == list(range(7, 7 + len(batch.rows["crm_quotes"])))


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        DemoGenerator(seed=1, profiles=1, now=NOW.replace(tzinfo=None), reference=REFERENCE, first_ids={})


def test_contacts_are_unique_and_well_formed(data: Rows) -> None:
    profiles = data["crm_profiles"]
    emails = [p["email"] for p in profiles if p["email"]]
    assert len(emails) == len(set(emails)) > 0.9 * len(profiles)
    assert all(re.fullmatch(r"[a-z0-9._]+@[a-z0-9.-]+\.(com|net|org|example)", e) for e in emails)
    phones = [p["phone"] for p in profiles if p["phone"]]
    assert phones and all(E164.match(phone) for phone in phones)
    external_ids = [p["external_id"] for p in profiles]
    assert len(set(external_ids)) == len(external_ids)


def test_geography_is_consistent(data: Rows) -> None:
    profiles = data["crm_profiles"]
    for profile in profiles:
        zoneinfo.ZoneInfo(profile["time_zone"])  # a real IANA name
        country, zone = profile["country"], profile["time_zone"]
        expected = {"US": ("America/", "Pacific/Honolulu"), "CA": ("America/",), "GB": ("Europe/London",),
                    "DE": ("Europe/Berlin",), "FR": ("Europe/Paris",), "AU": ("Australia/",)}[country]
        assert zone.startswith(expected), profile
        phone = profile["phone"]
        if phone:
            prefix = {"US": "+1", "CA": "+1", "GB": "+44", "DE": "+49", "FR": "+33", "AU": "+61"}[country]
            assert phone.startswith(prefix)
    countries = Counter(p["country"] for p in profiles)
    assert set(countries) == {"US", "CA", "GB", "DE", "FR", "AU"}
    assert countries["US"] > countries["GB"]
    assert any(p["region"] == "California" and p["time_zone"] == "America/Los_Angeles" for p in profiles)
    assert any(p["region"] == "Ontario" and p["postal_code"][0] in "KLMNP" for p in profiles)


def test_profiles_mix_demographics_and_firmographics(data: Rows) -> None:
    kinds = Counter(
        (any(p[f] is not None for f in DEMOGRAPHIC_FIELDS),
         any(p[f] is not None for f in FIRMOGRAPHIC_FIELDS))
        for p in data["crm_profiles"]
    )
    total = sum(kinds.values())
    # (demographics, firmographics): only demographics, only firmographics, both, neither.
    for kind, share in {(True, False): 0.25, (False, True): 0.25, (True, True): 0.40,
                        (False, False): 0.10}.items():
        assert abs(kinds[kind] / total - share) < 0.05, kinds


def test_values_fit_the_model_choices(data: Rows) -> None:
    for profile in data["crm_profiles"]:
        assert profile["lifecycle_status"] in LIFECYCLE_STATUSES
        assert profile["gender"] in (*GENDERS, None)
        assert profile["income_band"] in (*INCOME_BANDS, None)
        assert profile["education"] in (*EDUCATION_LEVELS, None)
        assert profile["family_status"] in (*FAMILY_STATUSES, None)
        for consent in ("email", "sms"):
            assert profile[f"{consent}_consent_source"] in (*CONSENT_SOURCES, None)
            if profile[f"{consent}_consent"]:
                assert profile[f"{consent}_consent_source"] == "demo"
                assert profile[f"{consent}_consent_at"] is not None
        if profile["company_size"] is not None:
            assert profile["company_size"] >= 1 and profile["annual_revenue"] > 0
        if profile["birth_date"] is not None:
            age = (NOW.date() - profile["birth_date"]).days / 365.25
            assert 18 <= age <= 81
    assert {q["status"] for q in data["crm_quotes"]} == set(QUOTE_STATUSES)
    assert {j["status"] for j in data["crm_jobs"]} == set(JOB_STATUSES)
    assert {o["stage"] for o in data["crm_opportunities"]} == set(OPPORTUNITY_STAGES)
    assert {t["status"] for t in data["crm_support_tickets"]} == set(TICKET_STATUSES)
    assert {t["priority"] for t in data["crm_support_tickets"]} == set(TICKET_PRIORITIES)
    assert set(Counter(p["lifecycle_status"] for p in data["crm_profiles"])) == set(LIFECYCLE_STATUSES)


def test_money_is_nonnegative_with_two_places(data: Rows) -> None:
    money = [
        *(q["total"] for q in data["crm_quotes"]), *(j["amount"] for j in data["crm_jobs"]),
        *(o["value"] for o in data["crm_opportunities"]),
        *(line[f] for line in data["crm_quote_lines"] + data["crm_job_lines"]
          for f in ("quantity", "unit_price", "amount")),
        *(p["annual_revenue"] for p in data["crm_profiles"] if p["annual_revenue"] is not None),
    ]
    assert all(isinstance(v, Decimal) and v >= 0 and v.as_tuple().exponent == -2 for v in money)
    assert all(line["quantity"] > 0 for line in data["crm_quote_lines"] + data["crm_job_lines"])


def test_timestamps_are_utc_within_three_years(data: Rows) -> None:
    stamps = [
        value
        for table in RECORD_TABLES
        for row in data[table]
        for column, value in row.items()
        if isinstance(value, dt.datetime) and column != "scheduled_at" and column != "expires_at"
    ]
    assert stamps
    assert all(value.tzinfo is dt.UTC for value in stamps)
    assert all(HISTORY_START <= value <= NOW for value in stamps)
    for row in data["crm_profiles"]:
        assert row["created_at"] <= row["updated_at"]


def test_about_a_third_of_quotes_become_jobs_with_their_lines(data: Rows) -> None:
    quotes = {q["id"]: q for q in data["crm_quotes"]}
    jobs_from_quotes = [j for j in data["crm_jobs"] if j["quote_id"] is not None]
    assert 0.25 < len(jobs_from_quotes) / len(quotes) < 0.42
    assert len(jobs_from_quotes) < len(data["crm_jobs"])  # other jobs came without a quote
    quote_lines: dict[int, list[tuple[Any, ...]]] = {}
    for line in data["crm_quote_lines"]:
        quote_lines.setdefault(line["quote_id"], []).append(
            (line["product_id"], line["quantity"], line["unit_price"], line["amount"]))
    job_lines: dict[int, list[tuple[Any, ...]]] = {}
    for line in data["crm_job_lines"]:
        job_lines.setdefault(line["job_id"], []).append(
            (line["product_id"], line["quantity"], line["unit_price"], line["amount"]))
    for job in jobs_from_quotes:
        quote = quotes[job["quote_id"]]
        assert quote["status"] == "accepted" and quote["profile_id"] == job["profile_id"]
        assert job["amount"] == quote["total"] and job["currency"] == quote["currency"]
        assert job_lines[job["id"]] == quote_lines[quote["id"]]
        assert job["created_at"] == quote["decided_at"]
    for quote in quotes.values():
        assert quote["total"] == sum(amount for *_, amount in quote_lines[quote["id"]])
    assert {q["id"] for q in quotes.values() if q["status"] == "accepted"} == {
        j["quote_id"] for j in jobs_from_quotes
    }


def test_history_is_coherent(data: Rows) -> None:
    for quote in data["crm_quotes"]:
        status = quote["status"]
        assert (quote["sent_at"] is None) == (status == "draft")
        assert (quote["decided_at"] is not None) == (status in ("accepted", "declined"))
        if status == "expired":
            assert quote["expires_at"] <= NOW
    for job in data["crm_jobs"]:
        status = job["status"]
        assert (job["finished_at"] is not None) == (status == "completed")
        assert (job["started_at"] is not None) == (status in ("in_progress", "completed"))
        if job["finished_at"] is not None:
            assert job["scheduled_at"] <= job["started_at"] < job["finished_at"] <= NOW
        if status == "scheduled":
            assert job["scheduled_at"] > NOW
    for opportunity in data["crm_opportunities"]:
        closed = opportunity["stage"] in ("won", "lost")
        assert (opportunity["closed_at"] is not None) == closed
        if closed:
            assert opportunity["created_at"] < opportunity["closed_at"] <= NOW
    for ticket in data["crm_support_tickets"]:
        assert (ticket["closed_at"] is not None) == (ticket["status"] == "closed")
        if ticket["closed_at"] is not None:
            assert ticket["opened_at"] < ticket["closed_at"]


def test_lifecycle_follows_the_history(data: Rows) -> None:
    with_jobs = {j["profile_id"] for j in data["crm_jobs"]}
    won = {o["profile_id"] for o in data["crm_opportunities"] if o["stage"] == "won"}
    with_interest = {q["profile_id"] for q in data["crm_quotes"]} | {
        o["profile_id"] for o in data["crm_opportunities"]}
    for profile in data["crm_profiles"]:
        status = profile["lifecycle_status"]
        if status in ("customer", "churned"):
            assert profile["id"] in with_jobs | won
        elif status == "prospect":
            assert profile["id"] in with_interest
        else:
            assert profile["id"] not in with_jobs | with_interest


def test_catalog_has_categories_with_subcategories() -> None:
    all_categories = categories()
    parents = {c.key for c in all_categories if c.parent_key is None}
    children = [c for c in all_categories if c.parent_key is not None]
    assert len(parents) >= 5 and children and all(c.parent_key in parents for c in children)
    assert len({c.name for c in all_categories}) == len(all_categories)
    catalog = products()
    assert len({p.sku for p in catalog}) == len(catalog)
    assert {p.subcategory_key for p in catalog} <= {c.key for c in children}

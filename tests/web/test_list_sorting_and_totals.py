"""Sortable lists with totals: keyset pages stay correct in every sort order (empty values last, the
id breaking ties), a bad sort key is refused naming it, and a list says how many rows match, exactly
or, when counting would take too long on PostgreSQL, as the planner's estimate."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.kernel.list_totals import Total, count_matches
from crm_segments.models import Profile
from tests.factories import ProfileFactory, QuoteFactory
from tests.web import profile_lists

NAMES = ["Lovelace", None, "Hopper", "Turing", "Hopper", None, "Babbage", "Hopper", "Knuth", "Dijkstra"]


def _expected(profiles: list[Profile], descending: bool) -> list[int]:
    named = sorted((p for p in profiles if p.last_name is not None),
                   key=lambda p: (p.last_name, -p.id) if descending else (p.last_name, p.id),
                   reverse=descending)
    return [p.id for p in named] + sorted(p.id for p in profiles if p.last_name is None)


def _walk(session: Session, sort: str) -> tuple[list[int], list[int]]:
    """Every id, page by page forward, then back again from the last page."""
    forward: list[list[int]] = []
    after = None
    while True:
        page = profile_lists.list_profiles(session=session, region="Sorted", sort=sort, after=after,
                                             limit=3)
        forward.append([p.id for p in page.rows])
        if page.next_after is None:
            break
        after = page.next_after
    backward: list[list[int]] = [forward[-1]]
    before: Any = profile_lists.list_profiles(session=session, region="Sorted", sort=sort,
                                                after=after, limit=3).prev_before if after else None
    while before is not None:
        page = profile_lists.list_profiles(session=session, region="Sorted", sort=sort, before=before,
                                             limit=3)
        backward.insert(0, [p.id for p in page.rows])
        before = page.prev_before
    return [i for chunk in forward for i in chunk], [i for chunk in backward for i in chunk]


@pytest.mark.parametrize("sort", ["name", "-name"])
def test_pages_walk_every_sort_order_both_ways_without_gaps(session: Session, sort: str) -> None:
    profiles = [ProfileFactory(last_name=name, region="Sorted") for name in NAMES]
    ProfileFactory(last_name="Aaron", region="Elsewhere")  # filtered out
    forward, backward = _walk(session, sort)
    assert forward == _expected(profiles, descending=sort.startswith("-"))
    assert backward == forward


def test_a_bad_sort_key_is_refused_naming_the_field(session: Session, sales_client: FlaskClient) -> None:
    with pytest.raises(ValidationFailed) as refused:
        profile_lists.list_profiles(session=session, sort="password_hash")
    assert refused.value.errors[0].field == "sort"
    page = sales_client.get("/profiles?sort=password_hash")
    assert page.status_code == 400
    assert "sort: must be one of company, created, email" in page.get_data(as_text=True)
    assert sales_client.get("/quotes?sort=-owner").status_code == 400


def test_the_profiles_list_sorts_by_a_header_and_shows_the_total(sales_client: FlaskClient) -> None:
    for name in ("Turing", "Babbage", "Lovelace"):
        ProfileFactory(last_name=name, first_name="A", region="North")
    html = sales_client.get("/profiles?region=North").get_data(as_text=True)
    assert "3 shown of 3 profiles" in html
    header = '<th aria-sort="none"><a class="sort-link" href="/profiles?region=North&amp;sort=name">Name'
    assert header in html
    by_name = sales_client.get("/profiles?region=North&sort=name").get_data(as_text=True)
    assert by_name.index("A Babbage") < by_name.index("A Lovelace") < by_name.index("A Turing")
    flip = 'aria-sort="ascending"><a class="sort-link" href="/profiles?region=North&amp;sort=-name">'
    assert flip in by_name
    reversed_ = sales_client.get("/profiles?region=North&sort=-name").get_data(as_text=True)
    assert reversed_.index("A Turing") < reversed_.index("A Lovelace") < reversed_.index("A Babbage")


def test_the_quotes_list_sorts_by_total_and_keeps_the_sort_across_pages(app: Any,
                                                                        sales_client: FlaskClient) -> None:
    app.config["CRM_SEGMENTS_PAGE_SIZE"] = 2
    for amount in ("300", "100", "200"):
        QuoteFactory(profile=ProfileFactory(), total=Decimal(amount))
    html = sales_client.get("/quotes?sort=-amount").get_data(as_text=True)
    assert "2 shown of 3 quotes" in html
    assert html.index("300.00") < html.index("200.00") and "100.00" not in html
    assert "sort=-amount&amp;after=" in html  # the next page keeps the order


def test_a_count_is_exact_when_quick(session: Session) -> None:
    for _ in range(3):
        ProfileFactory(region="Counted")
    total = profile_lists.count_profiles(session=session, region="Counted")
    assert total == Total(3, exact=True)
    assert total.label("profile", "profiles") == "3 profiles"
    assert Total(1, exact=True).label("profile", "profiles") == "1 profile"
    assert Total(123_456, exact=False).label("profile", "profiles") == "about 120,000 profiles"


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_slow_count_becomes_the_planners_estimate_and_the_request_goes_on(session: Session) -> None:
    for _ in range(4):
        ProfileFactory(region="Slow")
    session.flush()
    before = session.scalar(text("SELECT current_setting('statement_timeout')"))
    slow = select(Profile.id).where(Profile.region == "Slow", text("pg_sleep(0.05) IS NOT NULL"))
    total = count_matches(session, slow, budget_ms=20)  # four rows at 50 ms each: cancelled
    assert total.exact is False and total.value >= 1
    assert total.label("profile", "profiles").startswith("about ")
    # the transaction is still usable and the timeout is as it was
    assert session.scalar(text("SELECT current_setting('statement_timeout')")) == before
    assert profile_lists.count_profiles(session=session, region="Slow") == Total(4, exact=True)
    assert session.scalar(text("SELECT current_setting('statement_timeout')")) == before

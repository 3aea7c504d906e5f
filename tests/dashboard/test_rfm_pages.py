"""The RFM grid, a cell's customers, saving a cell as a static list, and the scores on the profile page."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.models import Profile, RfmScore, Segment, SegmentMember, User
from tests.factories import ProfileFactory
from tests.signed_in import csrf_token_from

AT = dt.datetime(2030, 1, 2, tzinfo=dt.UTC)


def _scored(session: Session, recency: int, frequency: int, monetary: int, **values: object) -> Profile:
    profile = ProfileFactory(**values)
    session.add(RfmScore(profile_id=profile.id, recency=recency, frequency=frequency, monetary=monetary,
                         last_purchase_at=AT, purchase_count=frequency, total_spent=Decimal(100 * monetary),
                         computed_at=AT))
    session.flush()
    return profile


def _cell(page: str, recency: int, frequency: int) -> str:
    found = re.search(rf'title="Recency {recency}, frequency {frequency}: ([^"]*)"', page)
    assert found, (recency, frequency)
    return found.group(1)


def test_grid_counts_each_cell_with_its_average_monetary_score(sales_client: FlaskClient,
                                                                session: Session) -> None:
    _scored(session, 5, 4, 5)
    _scored(session, 5, 4, 4)
    _scored(session, 1, 1, 1)
    page = sales_client.get("/rfm").get_data(as_text=True)
    assert "3 scored customers" in page
    assert _cell(page, 5, 4) == "2 customers, average monetary score 4.5"
    assert _cell(page, 1, 1) == "1 customer, average monetary score 1.0"
    assert "0<span class=\"visually-hidden\"> customers with recency 3, frequency 3</span>" in page
    assert 'class="shade-5" href="/rfm/5/4"' in page  # 4.5 rounds to the darkest shade


def test_my_customers_grid_counts_only_owned_profiles(sales_client: FlaskClient, sales_user: User,
                                                     session: Session) -> None:
    _scored(session, 2, 2, 2, owner_id=sales_user.id)
    _scored(session, 2, 2, 3)
    page = sales_client.get("/rfm?mine=1").get_data(as_text=True)
    assert _cell(page, 2, 2).startswith("1 customer,")
    assert 'href="/rfm/2/2?mine=1"' in page


def test_a_cell_lists_exactly_its_customers(sales_client: FlaskClient, session: Session) -> None:
    inside = [_scored(session, 4, 2, 3, last_name=f"Inside{i}") for i in range(3)]
    _scored(session, 4, 3, 3, last_name="WrongFrequency")
    _scored(session, 3, 2, 3, last_name="WrongRecency")
    page = sales_client.get("/rfm/4/2").get_data(as_text=True)
    names = re.findall(r'<a href="/profiles/\d+">([^<]+)</a>', page)
    assert sorted(names) == sorted(p.full_name for p in inside)
    assert "3 of 3 shown" in page
    assert "Save as a static list" not in page  # sales people do not create segments


def test_cells_outside_the_scores_do_not_exist(sales_client: FlaskClient) -> None:
    for path in ("/rfm/6/1", "/rfm/1", "/rfm/x/2", "/rfm/0/0"):
        assert sales_client.get(path).status_code == 404, path


def test_admin_saves_a_cell_as_a_static_list(admin_client: FlaskClient, session: Session) -> None:
    inside = [_scored(session, 5, 5, 5) for _ in range(2)]
    _scored(session, 5, 4, 5)
    page = admin_client.get("/rfm/5/5")
    assert "Save 2 profiles" in page.get_data(as_text=True)
    response = admin_client.post("/rfm/5/5/save", data={
        "name": "Champions", "csrf_token": csrf_token_from(page)})
    assert response.status_code == 303
    segment = session.scalars(select(Segment).where(Segment.name == "Champions")).one()
    assert segment.kind == "static" and segment.member_count == 2
    members = session.scalars(select(SegmentMember.profile_id).where(SegmentMember.segment_id == segment.id))
    assert sorted(members) == sorted(p.id for p in inside)


def test_saving_without_a_name_changes_nothing(admin_client: FlaskClient, session: Session) -> None:
    _scored(session, 5, 5, 5)
    page = admin_client.get("/rfm/5/5")
    before = session.scalar(select(func.count()).select_from(Segment))
    response = admin_client.post("/rfm/5/5/save", data={
        "name": " ", "csrf_token": csrf_token_from(page)})
    assert response.status_code == 400
    assert "name:" in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Segment)) == before


def test_sales_cannot_save_a_cell(sales_client: FlaskClient, session: Session) -> None:
    _scored(session, 5, 5, 5)
    token = csrf_token_from(sales_client.get("/rfm"))
    response = sales_client.post("/rfm/5/5/save", data={"name": "Mine", "csrf_token": token})
    assert response.status_code == 403
    assert session.scalars(select(Segment).where(Segment.name == "Mine")).first() is None


def test_profile_page_shows_the_scores_and_links_to_the_cell(sales_client: FlaskClient,
                                                             session: Session) -> None:
    profile = _scored(session, 3, 5, 2)
    page = sales_client.get(f"/profiles/{profile.id}").get_data(as_text=True)
    section = page[page.index('id="rfm-scores"'):]
    assert re.search(r"R</span><strong>3</strong>.*F</span><strong>5</strong>.*M</span><strong>2</strong>",
                     section, re.S)
    assert 'href="/rfm/3/5"' in section
    unscored = ProfileFactory()
    other = sales_client.get(f"/profiles/{unscored.id}").get_data(as_text=True)
    assert "No completed job yet, so no scores." in other

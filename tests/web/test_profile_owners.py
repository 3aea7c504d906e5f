"""Owners on the profiles list: "My customers", the owner filter, and assigning an owner in bulk
(selected rows, or a whole search after confirming the exact count)."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.models import Profile, Tag, User
from tests.factories import ProfileFactory, UserFactory
from tests.web.conftest import csrf_token_from


def _owners(session: Session, profiles: list[Profile]) -> list[int | None]:
    session.expire_all()
    return [session.get(Profile, p.id).owner_id for p in profiles]  # type: ignore[union-attr]


def test_my_customers_and_the_owner_filter(sales_client: FlaskClient, sales_user: User) -> None:
    other = UserFactory(name="Olive Other", role="sales")
    ProfileFactory(first_name="Mine", owner_id=sales_user.id)
    ProfileFactory(first_name="Theirs", owner_id=other.id)
    ProfileFactory(first_name="Nobodys", owner_id=None)

    everyone = sales_client.get("/profiles").get_data(as_text=True)
    assert f'href="/profiles?owner={sales_user.id}">My customers</a>' in everyone
    assert "Olive Other</td>" in everyone  # the owner column
    mine = sales_client.get(f"/profiles?owner={sales_user.id}").get_data(as_text=True)
    assert "<h1>My customers</h1>" in mine
    assert ">Mine Lastname" in mine and ">Theirs Lastname" not in mine and ">Nobodys Lastname" not in mine
    nobody = sales_client.get("/profiles?owner=none").get_data(as_text=True)
    assert ">Nobodys Lastname" in nobody and ">Mine Lastname" not in nobody
    refused = sales_client.get("/profiles?owner=someone")
    assert refused.status_code == 400 and "owner" in refused.get_data(as_text=True)


def _bulk(client: FlaskClient, data: dict[str, str]) -> object:
    token = csrf_token_from(client.get("/profiles"))
    return client.post("/profiles/owner/bulk", data={"csrf_token": token, "next": "/profiles", **data})


def test_selected_profiles_get_an_owner_at_once(sales_client: FlaskClient, sales_user: User,
                                                session: Session) -> None:
    chosen = [ProfileFactory(), ProfileFactory()]
    left = ProfileFactory()
    response = _bulk(sales_client, {"scope": "selected", "ids": ",".join(str(p.id) for p in chosen),
                                    "owner_id": str(sales_user.id)})
    assert response.status_code == 302  # type: ignore[attr-defined]
    assert _owners(session, chosen) == [sales_user.id, sales_user.id]
    assert _owners(session, [left]) == [None]
    assert "now owns 2 profiles" in sales_client.get("/profiles").get_data(as_text=True)


def test_an_unknown_owner_changes_nothing(sales_client: FlaskClient, session: Session) -> None:
    profile = ProfileFactory()
    _bulk(sales_client, {"scope": "selected", "ids": str(profile.id), "owner_id": "999999"})
    assert _owners(session, [profile]) == [None]
    assert "Nothing was changed" in sales_client.get("/profiles").get_data(as_text=True)


def test_more_than_100_profiles_need_the_exact_count_confirmed(sales_client: FlaskClient, sales_user: User,
                                                              session: Session) -> None:
    group = [ProfileFactory(region="Far North") for _ in range(101)]
    ProfileFactory(region="South")
    fields = {"scope": "filter", "region": "Far North", "owner_id": str(sales_user.id)}

    asked = _bulk(sales_client, fields)
    page = asked.get_data(as_text=True)  # type: ignore[attr-defined]
    assert asked.status_code == 200  # type: ignore[attr-defined]
    assert 'data-confirm-count="101"' in page and "Yes, change 101 profiles" in page
    assert 'name="confirm_count" value="101"' in page and 'name="region" value="Far North"' in page
    assert set(_owners(session, group)) == {None}  # nothing changed yet

    stale = _bulk(sales_client, {**fields, "confirm_count": "100"})  # the selection changed since
    assert stale.status_code == 200 and set(_owners(session, group)) == {None}  # type: ignore[attr-defined]

    done = _bulk(sales_client, {**fields, "confirm_count": "101"})
    assert done.status_code == 302  # type: ignore[attr-defined]
    assert set(_owners(session, group)) == {sales_user.id}
    assert session.scalar(select(func.count()).where(Profile.owner_id == sales_user.id)) == 101


def test_bulk_tagging_more_than_100_profiles_asks_first_and_creates_no_tag(sales_client: FlaskClient,
                                                                            session: Session) -> None:
    for _ in range(101):
        ProfileFactory(region="Far North")
    token = csrf_token_from(sales_client.get("/profiles"))
    asked = sales_client.post("/tags/bulk", data={
        "csrf_token": token, "scope": "filter", "region": "Far North", "action": "add",
        "tags": "Spring promo", "next": "/profiles"})
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and 'data-confirm-count="101"' in page
    assert "Add &#39;Spring promo&#39; to" in page and 'name="action" value="add"' in page
    assert session.scalars(select(Tag).where(Tag.name == "Spring promo")).first() is None

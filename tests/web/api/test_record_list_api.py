"""The API lists quotes, jobs and opportunities through the filter model and pager of the UI's lists:
the same filters, the same ``sort`` keys, paging both ways, the same refusals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.factories import ProfileFactory, QuoteFactory, QuoteTagFactory, TagFactory

from .conftest import Api


def _at(day: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(12), tzinfo=dt.UTC)


def _quotes(session: Session) -> None:
    ada = ProfileFactory(first_name="Ada", last_name="Lovelace", email="ada@analytical.example")
    alan = ProfileFactory(first_name="Alan", last_name="Turing", email="alan@bletchley.example")
    vip = TagFactory(name="VIP", name_key="vip")
    for profile, number, status, total, day in [
        (ada, "Q-1", "sent", "500", "2026-01-10"), (ada, "Q-2", "accepted", "1500", "2026-02-01"),
        (alan, "Q-3", "sent", "1500", "2026-02-28"), (alan, "Q-4", "sent", "9000", "2026-03-01"),
    ]:
        quote = QuoteFactory(profile=profile, number=number, status=status, total=Decimal(total),
                             sent_at=_at(day))
        if number in ("Q-2", "Q-4"):
            QuoteTagFactory(quote=quote, tag=vip)


def _numbers(api: Api, query: str) -> list[str]:
    answer = api.get(f"/quotes?{query}")
    assert answer.status_code == 200, answer.json
    return [item["number"] for item in answer.json["items"]]


def test_the_api_filters_quotes_like_the_list_page(api: Api, admin_client: FlaskClient,
                                                   session: Session) -> None:
    _quotes(session)
    assert _numbers(api, "q=ada") == ["Q-1", "Q-2"]
    assert _numbers(api, "status=sent&amount_min=1000") == ["Q-3", "Q-4"]
    assert _numbers(api, "date_from=2026-02-01&date_to=2026-02-28") == ["Q-2", "Q-3"]
    assert _numbers(api, "tag=vip&sort=-amount") == ["Q-4", "Q-2"]
    page = admin_client.get("/quotes?status=sent&amount_min=1000")
    assert page.status_code == 200 and "Q-3" in page.text and "Q-4" in page.text and "Q-1" not in page.text


def test_the_api_sorts_and_pages_both_ways(api: Api, session: Session) -> None:
    _quotes(session)
    first = api.get("/quotes?sort=-amount&limit=2").json
    assert [i["number"] for i in first["items"]] == ["Q-4", "Q-2"] and first["prev_before"] is None
    second = api.get(f"/quotes?sort=-amount&limit=2&after={first['next_after']}").json
    assert [i["number"] for i in second["items"]] == ["Q-3", "Q-1"] and second["next_after"] is None
    back = api.get(f"/quotes?sort=-amount&limit=2&before={second['prev_before']}").json
    assert [i["number"] for i in back["items"]] == ["Q-4", "Q-2"]


def test_bad_sort_and_filters_are_refused_naming_them(api: Api, session: Session) -> None:
    for query, field, words in [("sort=password", "sort", "must be one of amount"),
                                ("date_from=31/01/2026", "date_from", "must be a date"),
                                ("amount_min=10&amount_max=5", "amount_max", "not be less than amount_min"),
                                ("stage=won", "stage", "unknown field")]:
        answer = api.get(f"/quotes?{query}")
        assert answer.status_code == 422, (query, answer.status_code)
        fields = answer.json["error"]["fields"]
        assert [f["field"] for f in fields] == [field], query
        assert words in fields[0]["message"], fields


def test_the_openapi_description_documents_sort_per_list(api: Api) -> None:
    spec = api.get("/openapi.json").json
    params = {p["name"]: p for p in spec["paths"]["/quotes"]["get"]["parameters"]}
    assert {"sort", "q", "date_from", "amount_max", "tag", "before"} <= set(params)
    assert "label" in params["sort"]["description"] and "sent_at" in params["sort"]["description"]
    assert "sort" not in {p["name"] for p in spec["paths"]["/tickets"]["get"]["parameters"]}


def test_the_api_lists_profiles_through_the_profiles_list_filter(api: Api, admin_client: FlaskClient,
                                                                 session: Session) -> None:
    _quotes(session)  # Ada and Alan; tagged
    ProfileFactory(first_name="Grace", last_name="Hopper", email="grace@navy.example", region="East",
                   lifecycle_status="customer")

    def names(query: str) -> list[str]:
        answer = api.get(f"/profiles?{query}")
        assert answer.status_code == 200, answer.json
        return [item["first_name"] for item in answer.json["items"]]

    assert names("q=ada") == ["Ada"]
    assert names("sort=-name") == ["Alan", "Ada", "Grace"]  # Turing, Lovelace, Hopper
    assert names("lifecycle=customer") == names("lifecycle_status=customer") == ["Grace"]
    assert names("owner=none&region=East") == ["Grace"]
    page = admin_client.get("/profiles?lifecycle=customer")
    assert page.status_code == 200 and "Hopper" in page.text and "Turing" not in page.text
    refused = api.get("/profiles?sort=password_hash")
    assert refused.status_code == 422 and refused.json["error"]["fields"][0]["field"] == "sort"
    spec = api.get("/openapi.json").json
    params = {p["name"] for p in spec["paths"]["/profiles"]["get"]["parameters"]}
    assert {"q", "lifecycle", "tag", "segment", "owner", "sort", "before"} <= params

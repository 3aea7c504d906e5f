"""The lists' column picker and saved views in the pages: the columns asked for are the ones shown,
a view saved from a list opens it again, is renamed and deleted there, and a bad one changes nothing."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.models import SavedView, User
from tests.factories import ProfileFactory, QuoteFactory
from tests.signed_in import csrf_token_from


def _headers(html: str, table: str) -> list[str]:
    head = html.split(f'id="{table}"', 1)[1].split("</thead>", 1)[0]
    cells = re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)
    return [re.sub(r"<[^>]+>|[▲▼]", "", cell).strip() for cell in cells]


def _views(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(SavedView)) or 0)


def test_the_picked_columns_are_shown_and_kept_by_sorting(sales_client: FlaskClient,
                                                          session: Session) -> None:
    ProfileFactory(last_name="Lovelace", region="Ontario")
    everything = sales_client.get("/profiles").get_data(as_text=True)
    assert _headers(everything, "profiles-table") == ["Name", "Email", "Company", "Region", "Lifecycle",
                                                      "Owner", "Tags"]
    picked = sales_client.get("/profiles?columns=region&columns=email&columns=nope").get_data(as_text=True)
    assert _headers(picked, "profiles-table") == ["Name", "Email", "Region"]  # the name is always shown
    sort_link = re.search(r'href="([^"]*sort=region[^"]*)"', picked)
    assert sort_link and "columns=email" in sort_link.group(1) and "columns=region" in sort_link.group(1)


def test_a_view_is_saved_opened_renamed_and_deleted(sales_client: FlaskClient, session: Session,
                                                    sales_user: User) -> None:
    profile = ProfileFactory()
    QuoteFactory(profile=profile, status="sent")
    url = "/quotes?status=sent&sort=-amount&columns=amount&columns=sent_at"
    page = sales_client.get(url)
    token = csrf_token_from(page)
    saved = sales_client.post("/saved-views", data={
        "csrf_token": token, "list": "quotes", "name": "Sent, big first", "filter.status": "sent",
        "filter.q": "", "sort": "-amount", "columns": ["amount", "sent_at"]})
    assert saved.status_code == 303
    view = session.scalars(select(SavedView)).one()
    assert (view.owner_id, view.list_key, view.filters, view.sort, view.columns, view.shared) == (
        sales_user.id, "quotes", {"status": "sent"}, "-amount", ["amount", "sent_at"], False)

    opened = sales_client.get(saved.headers["Location"]).get_data(as_text=True)
    assert 'aria-current="page">Sent, big first' in opened
    assert _headers(opened, "records-table") == ["Number", "Total", "Sent"]

    renamed = sales_client.post(f"/saved-views/{view.id}/rename", data={"csrf_token": token, "name": "Sent"})
    session.expire_all()
    assert renamed.status_code == 303 and session.get(SavedView, view.id).name == "Sent"  # type: ignore[union-attr]
    assert sales_client.post(f"/saved-views/{view.id}/delete", data={"csrf_token": token}).status_code == 303
    assert _views(session) == 0


def test_bad_views_are_refused_with_the_reason(sales_client: FlaskClient, session: Session) -> None:
    token = csrf_token_from(sales_client.get("/profiles"))
    bad = sales_client.post("/saved-views", data={"csrf_token": token, "list": "profiles", "name": "Odd",
                                                  "sort": "password"})
    assert bad.status_code == 422 and "sort: must be one of" in bad.get_data(as_text=True)
    shared = sales_client.post("/saved-views", data={"csrf_token": token, "list": "profiles",
                                                     "name": "For all", "shared": "on"})
    assert shared.status_code == 403 and "only an admin" in shared.get_data(as_text=True)
    assert sales_client.post("/saved-views/999999/delete", data={"csrf_token": token}).status_code == 404
    assert _views(session) == 0

# ruff: noqa: F811  (pytest fixtures imported from tests/web/conftest.py are redefined as arguments)
"""A built-in's parameters are typed fields (numbers, pickers fed from the data), and the editor's
preview counts with the values being typed: the preview's count is the count after saving them."""

from __future__ import annotations

import datetime as dt
import json

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.models import Segment
from crm_segments.segments.prebuilt import BY_KEY, install_builtin_segments
from tests.factories import ProfileFactory, QuoteFactory
from tests.segments.test_refresh import members
from tests.signed_in import csrf_token_from
from tests.tasks import follow_task


def _builtin(session: Session, key: str) -> Segment:
    install_builtin_segments(session)
    session.flush()
    return session.scalars(select(Segment).where(Segment.key == key)).one()


def test_regions_are_picked_from_the_data_and_the_preview_uses_them(admin_client: FlaskClient,
                                                                     session: Session) -> None:
    inside = {ProfileFactory(region="Ontario").id, ProfileFactory(region="Quebec").id}
    ProfileFactory(region="Yukon")
    segment = _builtin(session, "customers_in_region")
    editor = admin_client.get(f"/segments/{segment.id}/edit")
    page = editor.get_data(as_text=True)
    assert 'name="param-regions"' in page and '<option value="Yukon">' in page
    assert '<option value="California" selected>' in page and 'name="parameters"' not in page
    token = csrf_token_from(editor)

    chosen = {"regions": ["Ontario", "Quebec"]}
    preview = admin_client.post("/segments/preview", headers={"X-CSRFToken": token},
                                json={"rule": segment.rule, "segment_id": segment.id, "parameters": chosen})
    assert preview.status_code == 200 and preview.json["count"] == 2

    saved = admin_client.post(f"/segments/{segment.id}/edit", data={
        "csrf_token": token, "name": segment.name, "refresh_interval_minutes": "60",
        "rule": "{}", "param-regions": chosen["regions"]})
    follow_task(admin_client, saved)
    session.refresh(segment)
    assert segment.parameters == chosen and members(session, segment) == inside
    assert len(inside) == preview.json["count"]


def test_a_number_parameter_is_checked_by_name(admin_client: FlaskClient, session: Session) -> None:
    segment = _builtin(session, "quoted_not_converted")
    editor = admin_client.get(f"/segments/{segment.id}/edit")
    assert 'type="number" id="param-days" name="param-days"' in editor.get_data(as_text=True)
    token = csrf_token_from(editor)

    zero = {"rule": segment.rule, "segment_id": segment.id, "parameters": {"days": "0"}}
    preview = admin_client.post("/segments/preview", headers={"X-CSRFToken": token}, json=zero)
    assert preview.status_code == 422 and preview.json["error"]["field"] == "parameters.days"

    saved = admin_client.post(f"/segments/{segment.id}/edit", data={
        "csrf_token": token, "name": segment.name, "refresh_interval_minutes": "60",
        "rule": "{}", "param-days": "7"})
    follow_task(admin_client, saved)
    session.refresh(segment)
    assert segment.parameters == {"days": 7}
    assert segment.rule["where"]["all"][1]["value"] == 7


def test_a_parameter_and_a_rule_edited_in_one_save_are_both_kept(admin_client: FlaskClient,
                                                                   session: Session) -> None:
    """Days 14 -> 7 and, in the same form, the rule wrapped in a group with "region is North": the saved
    rule tests both, and the preview counted what was saved."""
    now = dt.datetime.now(dt.UTC)
    north, south = ProfileFactory(region="North"), ProfileFactory(region="South")
    for profile in (north, south):
        QuoteFactory(profile=profile, status="sent", sent_at=now - dt.timedelta(days=10),
                     created_at=now - dt.timedelta(days=11))
    segment = _builtin(session, "quoted_not_converted")
    editor = admin_client.get(f"/segments/{segment.id}/edit")
    token = csrf_token_from(editor)
    edited = {"all": [segment.rule, {"field": "region", "op": "eq", "value": "North"}]}

    preview = admin_client.post("/segments/preview", headers={"X-CSRFToken": token},
                                json={"rule": edited, "segment_id": segment.id, "parameters": {"days": "7"}})
    assert preview.status_code == 200 and preview.json["count"] == 1

    saved = admin_client.post(f"/segments/{segment.id}/edit", data={
        "csrf_token": token, "name": segment.name, "refresh_interval_minutes": "60",
        "rule": json.dumps(edited), "param-days": "7"})
    follow_task(admin_client, saved)
    session.refresh(segment)
    assert segment.rule == {"all": [BY_KEY["quoted_not_converted"].build({"days": 7}), edited["all"][1]]}
    assert segment.parameters is None  # a rule written by hand now
    assert members(session, segment) == {north.id}

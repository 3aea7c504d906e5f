"""A rule stored before the validator knew better is reported where it is used, never a server error."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from crm_segments.models import Segment

from .conftest import Api

UNRUNNABLE = {"records": "quotes", "count": {"op": "gte", "value": 10**20}}


def test_a_stored_rule_that_cannot_run_is_reported(api: Api, admin_client: FlaskClient,
                                                   session: Session) -> None:
    segment = Segment(name="Stored long ago", kind="live", rule=UNRUNNABLE)
    session.add(segment)
    session.flush()
    for response in (api.get(f"/segments/{segment.id}"), api.post(f"/segments/{segment.id}/refresh"),
                     api.get(f"/segments/{segment.id}/members"),
                     admin_client.get(f"/segments/{segment.id}")):
        assert response.status_code < 500, (response.request.path, response.data[:300])
    refreshed = api.post(f"/segments/{segment.id}/refresh")
    assert refreshed.status_code in (200, 422)
    if refreshed.status_code == 200:
        assert refreshed.json["ok"] is False and "count.value" in refreshed.json["error"]

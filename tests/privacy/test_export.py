"""The export of one profile: every section of the plan with the person's rows, their inbound texts and
the names of what the rows refer to, and nothing about anyone else."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.orm import Session

from crm_segments.privacy.export import FORMAT, export_profile
from crm_segments.privacy.plan import PLAN

from .people import person, shared


def test_export_gives_every_section_of_the_person_and_nothing_of_others(session: Session,
                                                                       tmp_path: Path) -> None:
    common = shared(session)
    zoe, other = person(session, 1, common, tmp_path), person(session, 2, common, tmp_path)
    document = export_profile(session=session, profile_id=zoe.profile.id)
    text = json.dumps(document, ensure_ascii=False)  # plain JSON all the way down

    assert document["format"] == FORMAT and document["profile_id"] == zoe.profile.id
    assert document["profile"]["email"] == zoe.profile.email
    assert document["profile"]["custom_attributes"] == {"nickname": "Zed1"}
    sections = {rule.export for rule in PLAN.values() if rule.export} - {"profile"}
    assert set(document["data"]) == sections
    assert [name for name, rows in document["data"].items() if not rows] == []
    texts = document["inbound_texts"]
    assert [(t["from"], t["text"]) for t in texts] == [(zoe.profile.phone, "This is Zoe1, call me"),
                                                       (zoe.profile.phone, "STOP")]
    assert all(t["received_at"].startswith("2026-11-02T09:30") for t in texts)
    consent = document["data"]["consent_history"]
    assert {(c["channel"], c["new_value"]) for c in consent} == {("email", True), ("sms", False)}
    assert document["names"]["tags"] == {str(common.tag.id): "Warm"}
    assert document["names"]["segments"] == {str(common.segment.id): "Customers"}
    assert document["names"]["workflows"] == {str(common.workflow.id): "Welcome"}
    # Bookkeeping and provider payloads stay out; no one else's data comes in.
    assert all("claim_token" not in m for m in document["data"]["messages"])
    assert all("payload" not in e for e in document["data"]["message_events"])
    assert not [name for name in other.names if name.lower() in text.lower()]

"""Preview, overlap, size history, entered/exited log, members page, CSV export and cohorts."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.segments.cohorts import cohorts
from crm_segments.segments.members import export_csv, members_page, neutralise
from crm_segments.segments.preview import preview_rule
from crm_segments.segments.refresh import refresh_segment
from crm_segments.segments.reports import events_page, overlap, size_history
from tests.factories import JobFactory, ProfileFactory, QuoteFactory
from tests.segments.test_refresh import IN_ONTARIO, NOW, make_segment


def test_preview_counts_reachability_and_samples(session: Session) -> None:
    reachable = ProfileFactory(region="Ontario", email_consent=True, phone="+14165550101", sms_consent=True)
    bounced = ProfileFactory(region="Ontario", email_consent=True, email_bounced_at=NOW)
    no_consent = ProfileFactory(region="Ontario", email_consent=False, phone="+14165550102")
    ProfileFactory(region="Quebec", email_consent=True)

    preview = preview_rule(session, IN_ONTARIO, now=NOW, sample_size=2)

    assert (preview.count, preview.email_reachable, preview.sms_reachable) == (3, 1, 1)
    assert [p.id for p in preview.sample] == sorted([reachable.id, bounced.id, no_consent.id])[:2]


def test_preview_refuses_a_bad_rule_with_its_path(session: Session) -> None:
    with pytest.raises(ValidationFailed) as caught:
        preview_rule(session, {"all": [IN_ONTARIO, {"field": "region", "op": "gt", "value": 3}]}, now=NOW)
    assert caught.value.errors[0].field == "rule.all[1].op"
    with pytest.raises(ValidationFailed, match="unknown segment"):
        preview_rule(session, {"segment": "nope"}, now=NOW)


def test_overlap_and_size_history(session: Session) -> None:
    a = make_segment(session, name="Ontario")
    b = make_segment(session, name="Big", rule={"field": "company_size", "op": "gte", "value": 100})
    ProfileFactory(region="Ontario", company_size=500)
    ProfileFactory(region="Ontario", company_size=5)
    ProfileFactory(region="Quebec", company_size=500)
    ProfileFactory(region="Quebec", company_size=600)
    ProfileFactory(region="Quebec", company_size=1)
    refresh_segment(session, a, now=NOW)
    refresh_segment(session, b, now=NOW)
    refresh_segment(session, a, now=NOW + dt.timedelta(hours=1))

    result = overlap(session, a.id, b.id)

    assert (result.a_only, result.b_only, result.both, result.union) == (1, 2, 1, 4)
    history = size_history(session, a.id)
    assert [(p.size, p.entered) for p in history] == [(2, 2), (2, 0)]
    assert history[0].measured_at < history[1].measured_at


def test_event_log_pages_newest_first(session: Session) -> None:
    segment = make_segment(session)
    refresh_segment(session, segment, now=NOW)  # the first fill, still empty, writes no events
    people = [ProfileFactory(region="Ontario", first_name=f"P{i}", last_name="X") for i in range(3)]
    refresh_segment(session, segment, now=NOW + dt.timedelta(hours=1))
    people[0].region = "Quebec"
    session.flush()
    refresh_segment(session, segment, now=NOW + dt.timedelta(hours=2))

    first = events_page(session, segment.id, limit=2)
    second = events_page(session, segment.id, limit=2, before=first.next_before)

    assert [(e.kind, e.profile_id) for e in first.items][0] == ("exited", people[0].id)
    assert first.next_before is not None and second.next_before is None
    assert len(first.items) + len(second.items) == 4
    assert [e.kind for e in events_page(session, segment.id, kind="exited").items] == ["exited"]
    assert first.items[0].profile_name == "P0 X"


def test_members_page_search_and_keyset(session: Session) -> None:
    segment = make_segment(session)
    ada = ProfileFactory(region="Ontario", first_name="Ada", last_name="Lovelace")
    others = [ProfileFactory(region="Ontario") for _ in range(3)]
    refresh_segment(session, segment, now=NOW)

    page = members_page(session, segment.id, limit=2)
    rest = members_page(session, segment.id, limit=2, after=page.next_after)
    found = members_page(session, segment.id, q="love")

    assert [r.profile.id for r in page.items + rest.items] == sorted([ada.id, *(o.id for o in others)])
    assert rest.next_after is None
    assert [r.profile.id for r in found.items] == [ada.id]


@pytest.mark.parametrize(("value", "cell"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+1 555", "'+1 555"),
    ("-2", "'-2"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\tcmd", "'\tcmd"),
    ("\x00=1", "'=1"),
    ("Acme", "Acme"),
    (None, ""),
])
def test_neutralise(value: str | None, cell: str) -> None:
    assert neutralise(value) == cell


def test_csv_export_neutralises_formulas(session: Session, session_factory: sessionmaker[Session]) -> None:
    segment = make_segment(session)
    ProfileFactory(region="Ontario", company="=cmd|' /C calc'!A0", first_name="@evil")
    ProfileFactory(region="Ontario", company="Acme")
    refresh_segment(session, segment, now=NOW)
    session.flush()

    text = "".join(export_csv(session_factory, segment.id))
    rows = list(csv.DictReader(io.StringIO(text)))

    assert [r["company"] for r in rows] == ["'=cmd|' /C calc'!A0", "Acme"]
    assert rows[0]["first_name"] == "'@evil" and rows[0]["region"] == "Ontario"


def test_cohorts_by_first_purchase_and_first_quote(session: Session) -> None:
    now = dt.datetime(2025, 6, 15, tzinfo=dt.UTC)
    at = lambda y, m, d=10: dt.datetime(y, m, d, 12, tzinfo=dt.UTC)  # noqa: E731
    a, b, c = ProfileFactory(), ProfileFactory(), ProfileFactory()
    JobFactory(profile=a, finished_at=at(2025, 4))
    JobFactory(profile=a, finished_at=at(2025, 6))
    JobFactory(profile=b, finished_at=at(2025, 4, 30))
    JobFactory(profile=b, finished_at=at(2025, 5))
    JobFactory(profile=c, finished_at=at(2025, 5))
    JobFactory(profile=c, status="cancelled", finished_at=at(2025, 6))
    JobFactory(profile=ProfileFactory(), finished_at=at(2024, 1))  # before the window
    QuoteFactory(profile=c, sent_at=at(2025, 3))

    rows = cohorts(session, now=now, months=3)

    assert [(r.month, r.size, r.active) for r in rows] == [
        ("2025-04", 2, [2, 1, 1]),
        ("2025-05", 1, [1, 0]),
    ]
    by_quote = cohorts(session, now=now, basis="quote", months=4)
    assert [(r.month, r.size, r.active) for r in by_quote] == [("2025-03", 1, [1, 0, 1, 0])]

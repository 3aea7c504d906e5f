"""The profile page: every field group, the records with quote lines, tags, and added sections."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient

from crm_segments.web.ui.common.profile_sections import ProfileSection, ProfileSections, profile_sections
from tests.factories import (
    JobFactory,
    OpportunityFactory,
    ProductFactory,
    ProfileFactory,
    ProfileTagFactory,
    QuoteFactory,
    QuoteLineFactory,
    SupportTicketFactory,
    TagFactory,
)


def test_profile_page_shows_fields_records_and_tags(sales_client: FlaskClient) -> None:
    consent_at = dt.datetime(2025, 3, 4, 5, 6, tzinfo=dt.UTC)
    profile = ProfileFactory(
        first_name="Grace", last_name="Hopper", email="grace@navy.example", phone="+15551234567",
        company="Navy Labs", job_title="Rear Admiral", industry="Defense", company_size=1200,
        annual_revenue=Decimal("2500000.00"), birth_date=dt.date(1906, 12, 9), gender="female",
        income_band="50-100k", education="doctorate", occupation="Computer scientist",
        family_status="single", interests=["compilers", "nanoseconds"], city="Arlington",
        region="Virginia", country="US", postal_code="22201", time_zone="America/New_York",
        acquisition_source="conference", acquisition_channel="events", acquisition_campaign="cobol-60",
        lifecycle_status="customer", email_consent=True, email_consent_at=consent_at,
        email_consent_source="form", custom_attributes={"badge_number": 42, "teams": ["cobol"]},
    )
    quote = QuoteFactory(profile=profile, number="Q-COBOL-1", status="accepted", total=Decimal("1234.50"))
    QuoteLineFactory(quote=quote, product=ProductFactory(name="Compiler licence"), description="",
                     quantity=Decimal("2"), unit_price=Decimal("617.25"))
    JobFactory(profile=profile, title="Install compiler", quote_id=quote.id, status="completed")
    OpportunityFactory(profile=profile, name="Second site", stage="negotiation", value=Decimal("9000"))
    SupportTicketFactory(profile=profile, subject="Moth in relay", status="solved")
    ProfileTagFactory(profile=profile, tag=TagFactory(name="Pioneer", color="#7c3aed"))
    other = ProfileFactory()
    QuoteFactory(profile=other, number="Q-NOT-HERS")

    response = sales_client.get(f"/profiles/{profile.id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for expected in (
        "Grace Hopper", "grace@navy.example", "+15551234567",                    # contact
        "Navy Labs", "Rear Admiral", "Defense", "1,200", "2,500,000.00",          # firmographics
        "1906-12-09", "doctorate", "Computer scientist", "compilers, nanoseconds",  # demographics
        "Arlington", "Virginia", "22201", "America/New_York",                    # geography
        "conference", "events", "cobol-60",                                      # acquisition
        "2025-03-04 05:06 UTC", ">form<",                                        # consent time, source
        "badge_number", "42",                                                    # custom attributes
        "Q-COBOL-1", "1,234.50 USD", "Compiler licence", "2 ×", "617.25",        # quote with its line
        "Install compiler", "Second site", "negotiation", "Moth in relay",
        ">Pioneer</span>", 'data-tag-color="#7c3aed"',
    ):
        assert expected in page, expected
    assert "Q-NOT-HERS" not in page


def test_profile_page_of_a_bare_profile_renders(sales_client: FlaskClient) -> None:
    profile = ProfileFactory(first_name=None, last_name=None, email=None, external_id="ONLY-ID")
    page = sales_client.get(f"/profiles/{profile.id}").get_data(as_text=True)
    assert "ONLY-ID" in page
    assert "No quotes." in page and "No tags." in page


def test_unknown_profile_is_not_found(sales_client: FlaskClient) -> None:
    response = sales_client.get("/profiles/987654321")
    assert response.status_code == 404
    assert "Not found" in response.get_data(as_text=True)


def test_tag_colour_cannot_inject_style(sales_client: FlaskClient) -> None:
    profile = ProfileFactory()
    ProfileTagFactory(profile=profile, tag=TagFactory(name="Odd", color="red;x"))
    page = sales_client.get(f"/profiles/{profile.id}").get_data(as_text=True)
    assert "red;x" not in page
    assert 'data-tag-color="#6b7280"' in page


def test_features_add_sections_to_the_profile_page(app: Flask, sales_client: FlaskClient,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    sections = ProfileSections()  # in place of the app's own
    monkeypatch.setitem(app.extensions, "crm_segments.profile_sections", sections)
    sections.add(ProfileSection(
        key="greeting", title="Greeting", template="crm_segments/error.html",
        context=lambda session, profile: {"who": profile.last_name},
    ))
    sections.add(ProfileSection(
        key="admins_only", title="Secret", template="crm_segments/missing.html", roles=("admin",),
    ))
    profile = ProfileFactory(last_name="Sectioned")
    sections = []

    def capture(sender: object, template: object, context: dict[str, object], **_: object) -> None:
        sections.extend(context.get("extra_sections", []))  # type: ignore[call-overload]

    from flask import template_rendered
    with template_rendered.connected_to(capture):
        response = sales_client.get(f"/profiles/{profile.id}")
    assert response.status_code == 200  # the admin-only section's template is never loaded
    assert [(s.key, s.data) for s in sections] == [("greeting", {"who": "Sectioned"})]


def test_the_ui_adds_the_profile_sections_in_its_page_order_and_the_page_shows_them_by_order(
        app: Flask, admin_client: FlaskClient) -> None:
    # crm_segments.web.ui.PAGES: rfm, timeline, consent, workflows, tags, segments, messages, privacy
    assert profile_sections(app).keys() == [
        "rfm", "activity", "consent_history", "workflows", "record_tags", "tag_history", "segments",
        "messages", "personal_data",
    ]
    profile = ProfileFactory()
    shown = []

    def capture(sender: object, template: object, context: dict[str, object], **_: object) -> None:
        shown.extend(context.get("extra_sections", []))  # type: ignore[call-overload]

    from flask import template_rendered
    with template_rendered.connected_to(capture):
        page = admin_client.get(f"/profiles/{profile.id}").get_data(as_text=True)
    assert [(s.column, s.key) for s in shown] == [
        ("main", "activity"), ("side", "rfm"), ("main", "segments"), ("main", "record_tags"),
        ("main", "consent_history"), ("main", "tag_history"), ("main", "workflows"), ("main", "messages"),
        ("side", "personal_data"),
    ]
    main_column = page[page.index('class="profile-main"'):]
    titles = ["Activity", "Segments", "Record tags", "Consent history", "Tag history", "Workflows",
              "Messages"]
    positions = [main_column.find(title) for title in titles]
    assert -1 not in positions and positions == sorted(positions), dict(zip(titles, positions, strict=True))

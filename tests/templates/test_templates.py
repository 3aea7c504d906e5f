"""Message templates: sandboxed, autoescaped HTML, a missing variable named at save time, the shipped set."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import MessageTemplate
from crm_segments.templates.context import build_context
from crm_segments.templates.rendering import TemplateProblem, render, validate_template
from crm_segments.templates.template_store import (
    get_template,
    install_templates,
    shipped_templates,
    template_problem,
)
from crm_segments.workflows.template_saving import reset_template, save_template
from tests.factories import ProfileFactory, QuoteFactory, QuoteLineFactory, UserFactory


@pytest.mark.parametrize(("source", "missing"), [
    ("Hi {{ profile.nickname }}", "profile.nickname is undefined"),
    ("{{ customer.name }}", "'customer' is undefined"),
    ("{% for line in quote.lines %}{{ line.sku }}{% endfor %}", "quote.lines[0].sku is undefined"),
])
def test_a_missing_variable_is_an_error_naming_it(source: str, missing: str) -> None:
    with pytest.raises(TemplateProblem) as caught:
        validate_template(source, "text")
    assert caught.value.kind == "text"
    assert missing in caught.value.message


def test_syntax_errors_give_the_line() -> None:
    with pytest.raises(TemplateProblem, match="line 2"):
        validate_template("Hello\n{{ profile.first_name ", "html")


def test_the_sandbox_refuses_internals_and_mutation() -> None:
    with pytest.raises(TemplateProblem, match="not allowed"):
        validate_template("{{ profile.__class__.__mro__ }}", "text")
    with pytest.raises(TemplateProblem, match="not allowed"):
        validate_template("{{ quote.lines.append(1) }}", "text")


def test_html_is_autoescaped_and_text_is_not() -> None:
    context = {"profile": {"first_name": "<b>Ann</b> & Co"}}
    html = render("<p>{{ profile.first_name }}</p>", "html", context)
    assert html == "<p>&lt;b&gt;Ann&lt;/b&gt; &amp; Co</p>"
    assert render("{{ profile.first_name }}", "text", context) == "<b>Ann</b> & Co"
    assert render("Hi\n  {{ profile.first_name }}\n", "subject", context) == "Hi <b>Ann</b> & Co"


def test_empty_optional_values_print_nothing() -> None:
    assert render("Hi {{ profile.company }}!", "text", {"profile": {"company": None}}) == "Hi !"


def test_sms_longer_than_twilio_allows_is_refused() -> None:
    with pytest.raises(TemplateProblem, match="at most 1600"):
        validate_template("x" * 1601, "sms")


def test_every_shipped_template_renders_against_the_sample_context() -> None:
    shipped = shipped_templates()
    content_types = {t.content_type for t in shipped.values()}
    assert {"sales", "evergreen", "marketing", "congratulatory", "transactional", "seasonal",
            "trendy"} <= content_types
    assert {"sales/quote_follow_up", "sales/quote_reminder", "sales/quote_last_chance", "evergreen/welcome",
            "marketing/win_back", "congratulatory/review_request"} <= set(shipped)
    assert shipped["sales/quote_reminder"].channel == "sms"
    for source in shipped.values():
        for kind, text in source.parts().items():
            assert validate_template(text, kind), f"{source.key} {kind} rendered empty"


@pytest.mark.usefixtures("backend")
def test_quote_follow_up_shows_the_quotes_number_total_and_lines(session: Session) -> None:
    owner = UserFactory(name="Sam Seller")
    profile = ProfileFactory(first_name="Ann", owner_id=owner.id)
    quote = QuoteFactory(profile=profile, number="Q-7781", total=Decimal("1234.50"), currency="USD")
    QuoteLineFactory(quote=quote, description="Boiler service", quantity=Decimal(2),
                     unit_price=Decimal("400.00"))
    QuoteLineFactory(quote=quote, description="Filter", quantity=Decimal(1), unit_price=Decimal("434.50"))
    session.expire(quote)
    context = build_context(session, profile=profile, record_type="quote", record_id=quote.id,
                            unsubscribe_url="https://crm.example.com/unsubscribe/t")
    source = shipped_templates()["sales/quote_follow_up"]
    text = render(source.text_body, "text", context)
    html = render(source.html_body or "", "html", context)
    assert "Q-7781" in render(source.subject or "", "subject", context)
    for body in (text, html):
        assert "Q-7781" in body and "$1,234.50" in body and "Sam Seller" in body
        assert "Boiler service" in body and "$800.00" in body and "Filter" in body
    assert "× 2" in text


@pytest.mark.usefixtures("backend")
def test_saving_checks_every_part_and_writes_nothing_on_error(session: Session) -> None:
    with pytest.raises(ValidationFailed) as caught:
        save_template(session, key="sales/quote_follow_up", subject="Quote {{ quote.numbr }}",
                      text_body="Hi {{ profile.first_name }} {{ unsubscribe_url }}",
                      html_body="<p>{{ profile.nick }}</p>")
    fields = {e.field: e.message for e in caught.value.errors}
    assert "quote.numbr is undefined" in fields["subject"]
    assert "profile.nick is undefined" in fields["html_body"]
    assert "text_body" not in fields
    assert session.scalars(select(MessageTemplate)).all() == []


@pytest.mark.usefixtures("backend")
def test_installer_edit_and_reset_to_shipped(session: Session) -> None:
    install_templates(session)
    install_templates(session)  # idempotent
    rows = session.scalars(select(MessageTemplate)).all()
    assert len(rows) == len(shipped_templates()) and all(r.is_builtin for r in rows)
    save_template(session, key="evergreen/welcome", subject="Hello {{ profile.first_name }}",
                  text_body="Welcome! Unsubscribe: {{ unsubscribe_url }}", html_body="")
    install_templates(session)  # leaves the edit alone
    edited = get_template(session, "evergreen/welcome")
    assert edited is not None and edited.subject == "Hello {{ profile.first_name }}"
    assert edited.html_body is None
    reset_template(session, "evergreen/welcome")
    assert get_template(session, "evergreen/welcome") == shipped_templates()["evergreen/welcome"]


@pytest.mark.usefixtures("backend")
def test_template_problem_for_workflow_steps(session: Session) -> None:
    assert template_problem(session, "sales/quote_follow_up", channel="email") is None
    assert "sms" in (template_problem(session, "sales/quote_follow_up", channel="sms") or "")
    assert "no message template" in (template_problem(session, "sales/nope", channel="email") or "")


@pytest.mark.usefixtures("backend")
def test_preview_renders_every_part_for_a_real_profile(session: Session) -> None:
    from crm_segments.templates.compose import preview

    profile = ProfileFactory(first_name="Bea")
    quote = QuoteFactory(profile=profile, number="Q-9001")
    source = shipped_templates()["sales/quote_reminder"]
    parts = preview(session, source, profile=profile, base_url="https://crm.example.com",
                    record_type="quote", record_id=quote.id)
    assert parts["sms"].startswith("Hi Bea, a reminder that your quote Q-9001")
    with pytest.raises(TemplateProblem, match="quote"):
        preview(session, source, profile=profile, base_url="https://crm.example.com")

"""The template editor: admins list, edit (checked at save time, nothing saved on error), preview
against a real profile and record, test-send to themselves, and reset to the shipped file."""

from __future__ import annotations

import html
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.db import utcnow
from crm_segments.messages.jobs import dispatch_due_messages
from crm_segments.messages.outbox import enqueue_message
from crm_segments.models import Message, MessageTemplate, User
from crm_segments.state import get_state
from crm_segments.templates.template_store import get_template, shipped_templates, template_state
from tests.factories import ProfileFactory, QuoteFactory, QuoteLineFactory

from .conftest import csrf_token_from

pytestmark = pytest.mark.usefixtures("backend")
KEY = "sales/quote_follow_up"
URL = f"/templates/{KEY}"


def _form(client: FlaskClient, url: str = URL, **values: str) -> dict[str, str]:
    """The editor's fields as the page has them, with ``values`` changed."""
    page = client.get(url).get_data(as_text=True)
    fields = {name: html.unescape(body) for name, body in re.findall(
        r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S)}
    fields["csrf_token"] = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    return fields | values


def _errors(page: str) -> dict[str, str]:
    block = page.split('id="template-errors"')[1].split("</div>")[0]
    return dict(re.findall(r"<li><strong>(\w+)</strong>: (.*?)</li>", block, re.S))


def test_templates_are_listed_by_content_type_and_channel(admin_client: FlaskClient) -> None:
    page = admin_client.get("/templates").get_data(as_text=True)
    for content_type in ("evergreen", "seasonal", "transactional", "sales", "marketing", "congratulatory",
                         "trendy"):
        assert f'id="type-{content_type}"' in page
    assert f'href="{URL}"' in page and 'href="/templates/sales/quote_reminder"' in page
    sms_only = admin_client.get("/templates?channel=sms").get_data(as_text=True)
    assert 'href="/templates/sales/quote_reminder"' in sms_only and f'href="{URL}"' not in sms_only
    assert 'id="type-evergreen"' not in sms_only
    assert re.search(r'<a href="/templates"[^>]*class="active"', page)


def test_sales_see_templates_and_only_admins_change_preview_or_test_them(sales_client: FlaskClient,
                                                                         session: Session) -> None:
    listed = sales_client.get("/templates")
    assert listed.status_code == 200 and f'href="{URL}"' in listed.get_data(as_text=True)
    page = sales_client.get(URL).get_data(as_text=True)
    assert 'id="template-read-only"' in page and shipped_templates()[KEY].subject in html.unescape(page)
    assert len(re.findall(r"<textarea[^>]* readonly>", page)) == 3
    for action in ("save", "reset", "preview", "test_send"):
        assert f'value="{action}"' not in page
    token = csrf_token_from(sales_client.get("/messages"))
    for action in ("save", "reset", "preview", "test_send"):
        refused = sales_client.post(URL, data={"csrf_token": token, "action": action, "text_body": "x"})
        assert refused.status_code == 403, action
    assert session.scalars(select(MessageTemplate)).first() is None
    assert session.scalars(select(Message)).first() is None


def test_save_overrides_the_file_and_reset_restores_it(admin_client: FlaskClient, session: Session,
                                                       admin_user: User) -> None:
    shipped = shipped_templates()[KEY]
    form = _form(admin_client, action="save", subject="Quote {{ quote.number }} for {{ profile.first_name }}")
    assert admin_client.post(URL, data={**form, "csrf_token": "wrong"}).status_code == 400  # CSRF
    saved = admin_client.post(URL, data=form)
    assert saved.status_code == 302
    state = template_state(session, KEY)
    assert state.origin == "edited"
    assert state.source.subject == "Quote {{ quote.number }} for {{ profile.first_name }}"
    assert state.source.html_body == shipped.html_body and state.updated_by_id == admin_user.id
    page = admin_client.get(URL).get_data(as_text=True)
    assert ">edited</span>" in page and 'value="reset"' in page

    reset = admin_client.post(URL, data={"csrf_token": form["csrf_token"], "action": "reset"})
    assert reset.status_code == 302
    session.expire_all()
    assert template_state(session, KEY).origin == "shipped"
    assert get_template(session, KEY) == shipped


@pytest.mark.parametrize(("field", "text", "expected"), [
    ("html_body", "<p>Hi</p>\n<p>{{ profile.first_name </p>", "syntax error on line 2"),
    ("text_body", "Hi\n{% if profile.company is none %}\n{{ nickname }}\n{% endif %}",
     "line 3: unknown variable: 'nickname' is undefined"),
    ("subject", "Quote {{ quote.numbr }}", "line 1: missing variable: quote.numbr is undefined"),
    ("text_body", "Hi\n{{ profile.__class__.__mro__ }}", "line 2: not allowed in a message template"),
    ("text_body", "{{ quote.lines.append(1) }}", "line 1: not allowed in a message template"),
])
def test_a_bad_part_is_named_with_its_line_and_nothing_is_saved(admin_client: FlaskClient, session: Session,
                                                                field: str, text: str, expected: str) -> None:
    refused = admin_client.post(URL, data=_form(admin_client, action="save", **{field: text}))
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    errors = _errors(page)
    assert list(errors) == [field] and expected in errors[field].replace("&#39;", "'"), errors
    assert session.scalars(select(MessageTemplate).where(MessageTemplate.key == KEY)).first() is None
    assert text.split("\n")[-1][:10] in page.replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">")


def test_preview_renders_unsaved_text_for_a_real_profile_and_record(admin_client: FlaskClient,
                                                                    session: Session) -> None:
    bea = ProfileFactory(first_name="Bea", email="bea@example.com")
    QuoteFactory(profile=bea, number="Q-OLD")
    latest = QuoteFactory(profile=bea, number="Q-7781")
    QuoteLineFactory(quote=latest, description="Boiler service")
    QuoteFactory(number="Q-OTHER")  # another profile's, newer
    form = _form(admin_client, action="preview", profile="bea@example.com",
                 subject="Draft for {{ profile.first_name }}: {{ quote.number }}")
    shown = admin_client.post(URL, data=form)
    assert shown.status_code == 200
    page = shown.get_data(as_text=True)
    preview = page.split('id="template-preview"')[1]
    assert '<span id="preview-subject">Draft for Bea: Q-7781</span>' in preview
    assert "Boiler service" in preview and f"quote {latest.id}" in preview
    assert session.scalars(select(MessageTemplate)).first() is None  # a preview saves nothing
    # The preview frame lives under the page's policy: the email's own inline styles are admitted.
    assert "'unsafe-hashes' 'sha256-" in shown.headers["Content-Security-Policy"]
    assert "'unsafe-hashes'" not in admin_client.get(URL).headers["Content-Security-Policy"]

    older = admin_client.post(URL, data={**form, "record_id": str(latest.id - 1)}).get_data(as_text=True)
    assert "Draft for Bea: Q-OLD" in older
    other = admin_client.post(URL, data={**form, "record_id": "999999"})
    assert other.status_code == 400 and "record_id" in _errors(other.get_data(as_text=True))
    nobody = admin_client.post(URL, data={**form, "profile": "nobody-here@example.com"})
    assert _errors(nobody.get_data(as_text=True)) == {"profile": "no profile with this id, email or name"}
    ProfileFactory(first_name="Cy", email="cy@example.com")
    no_quote = admin_client.post(URL, data={**form, "profile": "cy@example.com"}).get_data(as_text=True)
    assert "has no quote" in _errors(no_quote)["record_type"]


def test_test_send_goes_to_the_admin_and_never_counts_toward_a_cap(
        admin_client: FlaskClient, session: Session, admin_user: User, app: Flask) -> None:
    bea = ProfileFactory(first_name="Bea", email="bea@example.com", email_consent=True)
    QuoteFactory(profile=bea, number="Q-5150")
    sent = admin_client.post(URL, data=_form(admin_client, action="test_send", profile=str(bea.id)))
    assert sent.status_code == 302
    test = session.scalars(select(Message).where(Message.category == "test")).one()
    assert sent.headers["Location"].endswith(f"/messages/{test.id}")
    assert (test.to_address, test.recipient_user_id) == (admin_user.email, admin_user.id)
    assert test.profile_id == bea.id
    assert (test.template_key, test.record_type) == (KEY, "quote")

    state = get_state(app)
    settings = state.settings
    assert settings.messaging.email_provider == "local" and settings.messaging.email_frequency_cap is not None

    def dispatch() -> int:
        """What the scheduler runs every few seconds: send the due messages."""
        return dispatch_due_messages(state, now=utcnow())["sent"]

    assert dispatch() == 1
    session.expire_all()
    test = session.get(Message, test.id)  # type: ignore[assignment]
    assert test.status == "sent" and test.provider == "local" and "Q-5150" in (test.subject or "")
    assert (settings.outbox_dir / f"message-{test.id:08d}.eml").exists()

    # The profile's one marketing email of the day still goes out: the test did not use it up.
    marketing = enqueue_message(session, dedupe_key="after-test", profile_id=bea.id, channel="email",
                                template="evergreen/welcome")
    session.commit()
    assert dispatch() == 1
    session.expire_all()
    assert session.get(Message, marketing.id).status == "sent"  # type: ignore[union-attr]
    # ... and that one did use it up: the cap is on.
    capped = enqueue_message(session, dedupe_key="capped", profile_id=bea.id, channel="email",
                             template="evergreen/welcome")
    session.commit()
    assert dispatch() == 0
    session.expire_all()
    capped = session.get(Message, capped.id)  # type: ignore[assignment]
    assert (capped.status, capped.status_reason) == ("pending", "frequency cap reached")


def test_an_sms_test_needs_a_phone_number(admin_client: FlaskClient, session: Session) -> None:
    ProfileFactory()
    QuoteFactory(number="Q-1")
    url = "/templates/sales/quote_reminder"
    page = admin_client.get(url).get_data(as_text=True)
    assert 'name="to_address"' in page and 'name="subject"' not in page
    token = csrf_token_from(admin_client.get(url))
    form = {"csrf_token": token, "action": "test_send"}
    refused = admin_client.post(url, data={**form, "to_address": "call me"})
    assert refused.status_code == 400 and "to_address" in _errors(refused.get_data(as_text=True))
    assert session.scalars(select(Message)).first() is None
    sent = admin_client.post(url, data={**form, "to_address": "+15551230000"})
    assert sent.status_code == 302
    test = session.scalars(select(Message)).one()
    assert (test.channel, test.category, test.to_address) == ("sms", "test", "+15551230000")


def test_unknown_template_is_404(admin_client: FlaskClient) -> None:
    assert admin_client.get("/templates/sales/nope").status_code == 404


def test_a_record_the_template_shows_only_when_there_is_one_is_optional(admin_client: FlaskClient,
                                                                        session: Session) -> None:
    url = "/templates/transactional/owner_alert"  # {% if quote is defined %} ... {% endif %}
    ProfileFactory(first_name="Dee", last_name="Ng", email="dee@example.com")
    token = csrf_token_from(admin_client.get(url))
    form = {"csrf_token": token, "profile": "dee@example.com"}
    shown = admin_client.post(url, data={**form, "action": "preview"})
    assert shown.status_code == 200
    assert '<span id="preview-subject">Follow up with Dee Ng</span>' in shown.get_data(as_text=True)
    # A test send is rendered first too: one that cannot render is refused now, not failed later.
    url = "/templates/sales/quote_follow_up"
    refused = admin_client.post(url, data={**form, "action": "test_send"})
    assert refused.status_code == 400
    assert "Dee Ng has no quote" in _errors(refused.get_data(as_text=True))["record_type"]
    assert session.scalars(select(Message)).first() is None

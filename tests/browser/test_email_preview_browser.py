"""A message's HTML shown on its page keeps the email's inline styles (admitted by hash in the page's
policy, web/ui/html_preview.py), with no policy violation; an inline script stays refused.

Chromium loads the page the app serves (through the Flask test client: body and headers as sent),
so the policy it applies is the app's own.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.factories import ProfileFactory
from tests.web.message_data import message

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("backend")]
EMAIL = ('<style>p.note { color: rgb(0, 128, 0); }</style>'
         '<div id="box" style="max-width: 600px; color: rgb(31, 41, 55); font-family: Arial, sans-serif">'
         '<p class="note">Hello &amp; welcome</p>'
         '<span id="other" style="color: rgb(255, 0, 0)">red</span></div>'
         '<script>document.title = "ran"</script>')
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", e => window.__violations.push(e.violatedDirective));
"""


def test_a_messages_html_keeps_its_inline_styles_and_nothing_else_is_admitted(
        browser: Any, sales_client: FlaskClient, session: Session) -> None:
    ann = ProfileFactory(first_name="Ann", email="ann@example.com")
    row = message(session, ann, html_body=EMAIL)
    session.commit()

    def serve(route: Any) -> None:
        path = route.request.url.removeprefix("http://crm.test")
        answer = sales_client.get(path)
        body = answer.get_data()
        answer.close()  # a static file's handle
        route.fulfill(status=answer.status_code, body=body,
                      headers={k: v for k, v in answer.headers.items() if k.lower() != "content-length"})

    context = browser.new_context()
    context.add_init_script(WATCH)
    page = context.new_page()
    page.route("http://crm.test/**", serve)
    page.goto(f"http://crm.test/messages/{row.id}")
    frame = page.frame_locator("iframe.message-html")
    box = frame.locator("#box")
    assert box.evaluate("e => getComputedStyle(e).maxWidth") == "600px"
    assert box.evaluate("e => getComputedStyle(e).color") == "rgb(31, 41, 55)"
    assert frame.locator("p.note").evaluate("e => getComputedStyle(e).color") == "rgb(0, 128, 0)"
    assert frame.locator("#other").evaluate("e => getComputedStyle(e).color") == "rgb(255, 0, 0)"
    assert frame.locator("p.note").inner_text() == "Hello & welcome"
    # The sandbox runs no script, so none of the email's can reach the page.
    assert page.evaluate("window.__violations") == []
    context.close()


def test_the_page_policy_admits_exactly_the_emails_styles(sales_client: FlaskClient,
                                                          session: Session) -> None:
    ann = ProfileFactory(first_name="Ann", email="ann@example.com")
    styled = message(session, ann, html_body='<p style="color: red">Hi</p>')
    plain = message(session, ann, html_body="<p>Hi</p>")
    session.commit()
    policy = sales_client.get(f"/messages/{styled.id}").headers["Content-Security-Policy"]
    style_src = next(part for part in policy.split("; ") if part.startswith("style-src"))
    digest = base64.b64encode(hashlib.sha256(b"color: red").digest()).decode()
    assert style_src == f"style-src 'self' 'unsafe-hashes' 'sha256-{digest}'"
    assert "script-src 'self'" in policy
    plain_policy = sales_client.get(f"/messages/{plain.id}").headers["Content-Security-Policy"]
    assert "style-src 'self';" in plain_policy + ";" and "unsafe-hashes" not in plain_policy

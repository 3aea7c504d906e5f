"""The SendGrid channel writes the v3 Mail Send body itself; it is the body the library's ``Mail`` helper
makes for the same message, and SendGrid's definition takes it."""

from __future__ import annotations

from typing import Any

import pytest
from sendgrid.helpers.mail import CustomArg, Header, Mail

from crm_segments.channels import Outgoing
from crm_segments.channels.sendgrid import MESSAGE_ID_ARG, SendGridChannel
from tests.fakes.openapi import load_spec, request_errors
from tests.fakes.sendgrid import FakeSendGrid

FROM = "Shop <shop@example.com>"

MESSAGES = [
    Outgoing(1, "email", "ann@example.com", "Hello Ann", subject="Welcome", html_body="<p>Hello Ann</p>",
             unsubscribe_url="https://crm.example.com/u/token-1"),
    Outgoing(2, "email", "bo@xn--bcher-kva.example", "Plain only", subject="Hi"),
    Outgoing(3, "email", "cy@example.com", "Text", subject=None, html_body=""),
    Outgoing(4, "email", "di@example.com", "Grüße ✓", subject="Grüße", html_body="<b>é ü ✓</b>",
             unsubscribe_url="https://crm.example.com/u/token-4"),
]


def _with_the_helper(message: Outgoing) -> dict[str, Any]:
    """The body as the channel built it with the library's helper objects before."""
    mail = Mail(from_email=FROM, to_emails=message.to, subject=message.subject,
                plain_text_content=message.text_body, html_content=message.html_body or None)
    mail.custom_arg = CustomArg(MESSAGE_ID_ARG, str(message.message_id), p=0)
    if message.unsubscribe_url:
        mail.header = Header("List-Unsubscribe", f"<{message.unsubscribe_url}>")
        mail.header = Header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
    body: dict[str, Any] = mail.get()
    return body


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: f"message-{m.message_id}")
def test_the_body_is_the_one_the_library_helper_makes(message: Outgoing) -> None:
    channel = SendGridChannel(api_key="SG.body-test-key", email_from=FROM, host="http://127.0.0.1:9")

    body = channel.build(message)

    assert body == _with_the_helper(message)
    assert body["personalizations"][0]["custom_args"] == {MESSAGE_ID_ARG: str(message.message_id)}


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: f"message-{m.message_id}")
def test_the_body_matches_the_mail_send_definition(message: Outgoing) -> None:
    import json

    from werkzeug.datastructures import Headers

    channel = SendGridChannel(api_key="SG.body-test-key", email_from=FROM, host="http://127.0.0.1:9")
    body = json.dumps(channel.build(message)).encode()

    problem = request_errors(load_spec(FakeSendGrid.spec_file), method="POST", path="/v3/mail/send", query="",
                             headers=Headers({"Content-Type": "application/json",
                                              "Authorization": "Bearer SG.body-test-key"}), body=body)

    assert problem is None

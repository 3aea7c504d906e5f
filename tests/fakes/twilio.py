"""A fake Twilio Programmable Messaging API: ``POST /2010-04-01/Accounts/{sid}/Messages.json``.

Answers 201 with the message resource (``sid`` SM...), checks HTTP Basic auth (account SID and auth
token) and gives Twilio's error codes for numbers set up with ``reject_number``.
"""

from __future__ import annotations

import base64
import secrets
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

from .server import FakeProvider, Received, Reply

ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    21211: "The 'To' number is not a valid phone number.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
}
_CODE_FOR_STATUS = {401: 20003, 404: 20404, 429: 20429}


class FakeTwilio(FakeProvider):
    spec_file = "twilio-messages-v2010.json"

    def __init__(self, *, account_sid: str = "AC" + "0123456789abcdef" * 2, auth_token: str = "test-token",
                 validate: bool = True, check_after: bool = False) -> None:
        super().__init__(validate=validate, check_after=check_after)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.rejected_numbers: dict[str, int] = {}  # number -> Twilio error code

    def reject_number(self, number: str, code: int) -> None:
        """Answer messages to ``number`` with error ``code`` (21610 STOP, 21211 invalid, 21614 landline)."""
        self.rejected_numbers[number] = code

    @property
    def messages_path(self) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def authenticate(self, request: Received) -> Reply | None:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return self.error_reply(401, ERROR_MESSAGES[20003], code=20003)
        return None

    def reject(self, request: Received) -> Reply | None:
        if request.path != self.messages_path:
            return self.error_reply(404, ERROR_MESSAGES[20404], code=20404)
        code = self.rejected_numbers.get(self.form(request).get("To", ""))
        if code is not None:
            return self.error_reply(400, ERROR_MESSAGES[code], code=code)
        return None

    def accept(self, request: Received) -> tuple[dict[str, Any], Reply]:
        form = self.form(request)
        sid = "SM" + secrets.token_hex(16)
        now = format_datetime(request.at, usegmt=True)
        base = f"/2010-04-01/Accounts/{self.account_sid}"
        resource = {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": form.get("Body", ""),
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"), "num_media": "0",
            "num_segments": "1", "price": None, "price_unit": "USD", "sid": sid, "status": "queued",
            "subresource_uris": {"media": f"{base}/Messages/{sid}/Media.json"},
            "to": form.get("To"), "uri": f"{base}/Messages/{sid}.json",
        }
        return {"sid": sid, **form}, Reply(201, resource)

    def error_reply(self, status: int, message: str, *, code: int | None = None) -> Reply:
        code = code or _CODE_FOR_STATUS.get(status, 20500)
        return Reply(status, {"code": code, "message": message, "status": status,
                              "more_info": f"https://www.twilio.com/docs/errors/{code}"})

    @staticmethod
    def form(request: Received) -> dict[str, str]:
        return dict(parse_qsl(request.body.decode(), keep_blank_values=True))

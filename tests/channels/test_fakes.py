"""The fakes behave like the real APIs towards the official libraries, and check every request."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from python_http_client.exceptions import BadRequestsError, TooManyRequestsError, UnauthorizedError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Mail
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from tests.fakes import FakeSendGrid, FakeTwilio


@pytest.fixture
def sendgrid_fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def twilio_fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake  # type: ignore[misc]


def _mail(to: str = "ann@example.com") -> Mail:
    return Mail(from_email="shop@example.com", to_emails=to, subject="Hello",
                plain_text_content="Hi Ann", html_content="<p>Hi Ann</p>")


def test_sendgrid_accepts_a_valid_mail_with_202_and_a_message_id(sendgrid_fake: FakeSendGrid) -> None:
    client = SendGridAPIClient("SG.test-key", host=sendgrid_fake.url)
    response = client.send(_mail())
    assert response.status_code == 202
    message_id = response.headers["X-Message-Id"]
    assert sendgrid_fake.messages[0]["message_id"] == message_id
    assert sendgrid_fake.recipients() == ["ann@example.com"]
    assert sendgrid_fake.spec_errors == []


def test_sendgrid_checks_the_request_against_the_openapi_definition(sendgrid_fake: FakeSendGrid) -> None:
    client = SendGridAPIClient("SG.test-key", host=sendgrid_fake.url)
    bad = {"personalizations": [{"to": [{"email": "not-an-address"}]}],
           "from": {"email": "shop@example.com"}, "subject": "x",
           "content": [{"type": "text/plain", "value": "x"}]}
    with pytest.raises(BadRequestsError) as caught:
        client.client.mail.send.post(request_body=bad)
    assert "not-an-address" in sendgrid_fake.spec_errors[0]
    assert "errors" in caught.value.to_dict
    assert sendgrid_fake.messages == []


def test_sendgrid_auth_rate_limit_and_permanent_errors(sendgrid_fake: FakeSendGrid) -> None:
    with pytest.raises(UnauthorizedError):
        SendGridAPIClient("SG.wrong", host=sendgrid_fake.url).send(_mail())
    client = SendGridAPIClient("SG.test-key", host=sendgrid_fake.url)
    sendgrid_fake.fail_next(429, retry_after=7)
    with pytest.raises(TooManyRequestsError) as limited:
        client.send(_mail())
    assert limited.value.headers["Retry-After"] == "7"
    sendgrid_fake.reject_address("gone@example.com")
    with pytest.raises(BadRequestsError) as bad:
        client.send(_mail("gone@example.com"))
    assert bad.value.to_dict["errors"][0]["field"] == "personalizations.0.to.0.email"
    assert sendgrid_fake.messages == [] and len(sendgrid_fake.requests) == 3


def _twilio_client(fake: FakeTwilio, timeout: float = 5.0) -> Client:
    client = Client(fake.account_sid, fake.auth_token, http_client=TwilioHttpClient(timeout=timeout))
    client.api.base_url = fake.url  # the API domain's base URL (twilio.base.domain.Domain)
    return client


def test_twilio_creates_a_message_with_201_and_an_sm_sid(twilio_fake: FakeTwilio) -> None:
    message = _twilio_client(twilio_fake).messages.create(
        to="+15551230001", from_="+15550000000", body="Your quote", status_callback="https://crm.example/cb/1")
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status == "queued"
    assert twilio_fake.messages[0]["To"] == "+15551230001"
    assert twilio_fake.messages[0]["StatusCallback"] == "https://crm.example/cb/1"
    assert twilio_fake.spec_errors == []


def test_twilio_checks_auth_and_gives_error_codes(twilio_fake: FakeTwilio) -> None:
    wrong = Client(twilio_fake.account_sid, "wrong", http_client=TwilioHttpClient(timeout=5))
    wrong.api.base_url = twilio_fake.url
    with pytest.raises(TwilioRestException) as denied:
        wrong.messages.create(to="+15551230001", from_="+15550000000", body="x")
    assert denied.value.status == 401 and denied.value.code == 20003
    twilio_fake.reject_number("+15551230002", 21610)
    with pytest.raises(TwilioRestException) as stopped:
        _twilio_client(twilio_fake).messages.create(to="+15551230002", from_="+15550000000", body="x")
    assert stopped.value.status == 400 and stopped.value.code == 21610
    assert twilio_fake.messages == []


def test_twilio_request_outside_the_definition_is_reported(twilio_fake: FakeTwilio) -> None:
    account = _twilio_client(twilio_fake).api.v2010.accounts("ACshort")
    with pytest.raises(TwilioRestException):
        account.messages.create(to="+15551230001", from_="+15550000000", body="x")
    assert "AccountSid" in twilio_fake.spec_errors[0]


def test_slow_and_dropped_answers(twilio_fake: FakeTwilio) -> None:
    import requests

    client = _twilio_client(twilio_fake, timeout=0.3)
    twilio_fake.slow_next(1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.messages.create(to="+15551230001", from_="+15550000000", body="x")
    assert len(twilio_fake.messages) == 1  # taken, though the client never heard back
    twilio_fake.drop_next(accept=False)
    with pytest.raises(requests.exceptions.ConnectionError):
        _twilio_client(twilio_fake).messages.create(to="+15551230001", from_="+15550000000", body="x")
    assert len(twilio_fake.messages) == 1
    auth = base64.b64encode(f"{twilio_fake.account_sid}:{twilio_fake.auth_token}".encode()).decode()
    assert twilio_fake.requests[-1].headers["Authorization"] == f"Basic {auth}"


def test_sendgrid_fails_one_address_whatever_order_requests_arrive_in(sendgrid_fake: FakeSendGrid) -> None:
    client = SendGridAPIClient("SG.test-key", host=sendgrid_fake.url)
    sendgrid_fake.fail_address("busy@example.com", 429, retry_after=9)
    client.send(_mail("first@example.com"))
    with pytest.raises(TooManyRequestsError) as limited:
        client.send(_mail("busy@example.com"))
    assert limited.value.headers["Retry-After"] == "9"
    assert client.send(_mail("busy@example.com")).status_code == 202  # once only
    assert sendgrid_fake.recipients() == ["first@example.com", "busy@example.com"]


BAD_MAIL = {"personalizations": [{"to": [{"email": "not-an-address"}]}],
            "from": {"email": "shop@example.com"}, "subject": "x",
            "content": [{"type": "text/plain", "value": "x"}]}


@pytest.mark.slow
@pytest.mark.parametrize("check_after", [False, True])
def test_sendgrid_in_processes_of_its_own_checks_every_request(check_after: bool) -> None:
    from tests.fakes.processes import FakeProviderProcesses

    fake = FakeProviderProcesses("sendgrid", processes=2, check_after=check_after, api_key="SG.k")
    with fake:
        client = SendGridAPIClient("SG.k", host=fake.url)
        for n in range(4):
            assert client.send(_mail(f"p{n}@example.com")).status_code == 202
        if check_after:  # answered at once, like a valid one; the check comes when the fake stops
            assert client.client.mail.send.post(request_body=BAD_MAIL).status_code == 202
        else:
            with pytest.raises(BadRequestsError):
                client.client.mail.send.post(request_body=BAD_MAIL)
    assert (fake.requests, fake.checked, fake.spec_errors) == (5, 5, 1)
    assert fake.messages == (5 if check_after else 4)
    assert "not-an-address" in fake.spec_error_samples[0]
    assert fake.cpu_seconds > 0


@pytest.mark.slow
def test_fake_processes_hold_answers_and_new_connections_back_by_the_distance() -> None:
    """A provider "50 ms away": each answer 50 ms after its request, each new connection 100 ms first;
    a kept-alive connection pays the handshake once."""
    import time

    import urllib3

    from tests.fakes.processes import FakeProviderProcesses

    body = _mail("far@example.com").get()
    headers = {"Authorization": "Bearer SG.k", "Content-Type": "application/json"}
    with FakeProviderProcesses("sendgrid", processes=1, api_key="SG.k", latency=0.05, handshake=0.1) as fake:
        pool = urllib3.HTTPConnectionPool("127.0.0.1", fake.port, maxsize=1, retries=False)
        times = []
        for _ in range(3):
            started = time.perf_counter()
            answer = pool.request("POST", "/v3/mail/send", json=body, headers=headers)
            times.append(time.perf_counter() - started)
            assert answer.status == 202 and answer.headers["X-Message-Id"]
        assert pool.num_connections == 1  # kept alive
        closing = pool.request("POST", "/v3/mail/send", json=body, headers={**headers, "Connection": "close"})
        assert closing.status == 202 and closing.headers["Connection"] == "close"
    assert times[0] >= 0.15  # handshake and answer
    assert all(0.05 <= took < 0.15 for took in times[1:])
    assert (fake.requests, fake.messages, fake.checked, fake.spec_errors) == (4, 4, 4, 0)

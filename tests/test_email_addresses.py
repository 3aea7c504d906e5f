"""Email addresses as the provider takes them: domains in IDNA form, ASCII local parts only."""

from __future__ import annotations

import timeit
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from crm_segments import email_addresses
from crm_segments.accounts import users
from crm_segments.email_addresses import AddressRefused, lookup_key, normalize, sendable
from crm_segments.kernel.errors import ValidationFailed
from crm_segments.selection.from_csv import csv_selection
from tests.factories import ProfileFactory


@pytest.mark.parametrize(("given", "stored"), [
    ("Ann.Lee@Example.COM", "Ann.Lee@example.com"),
    ("anna@bücher.example", "anna@xn--bcher-kva.example"),
    ("anna@BÜCHER.de", "anna@xn--bcher-kva.de"),
    ("li@例え.jp", "li@xn--r8jz45g.jp"),
])
def test_a_domain_is_kept_in_its_idna_form(given: str, stored: str) -> None:
    assert normalize(given) == stored
    assert sendable(given) == (given if given.isascii() else stored)
    assert lookup_key(given) == stored


@pytest.mark.parametrize(("given", "named"), [
    ("josé@example.com", "'é'"),
    ("ñandú@bücher.example", "'ñ', 'ú'"),
    ("用户@例え.jp", "'户', '用'"),
])
def test_a_local_part_the_provider_cannot_take_is_refused_naming_the_characters(given: str,
                                                                                named: str) -> None:
    for check in (normalize, sendable):
        with pytest.raises(AddressRefused) as refused:
            check(given)
        assert named in str(refused.value) and "SendGrid" in str(refused.value)
    assert lookup_key(given) == given  # stored before the rule, it can still be found


@pytest.mark.parametrize("given", ["nope", "a@", "@example.com", "a@b@example.com", "a@-example.com"])
def test_what_is_not_an_address_is_refused(given: str) -> None:
    for check in (normalize, lookup_key):
        with pytest.raises(AddressRefused):
            check(given)


def test_an_ascii_address_costs_no_more_than_the_syntax_check_it_always_had() -> None:
    """The importer validates every row: the provider's rule adds an ASCII test, nothing more."""
    from email_validator import validate_email

    address = "firstname.lastname1234@subdomain.example-company.com"

    def cost(check: object) -> float:
        return min(timeit.repeat(check, number=2000, repeat=5)) / 2000  # type: ignore[arg-type]

    syntax_only = cost(lambda: validate_email(address, check_deliverability=False).normalized)
    assert cost(lambda: normalize(address)) < syntax_only * 2
    assert cost(lambda: sendable(address)) < syntax_only / 20  # at send time: a string test


def test_users_are_stored_and_found_by_the_idna_form(session: Session, backend: str) -> None:
    user = users.create_user(session=session, email="Ops@Bücher.example", password="long enough!",
                             role="sales")
    assert user.email == "ops@xn--bcher-kva.example"
    assert users.find_user_by_email(session=session, email="ops@bücher.example") is user
    with pytest.raises(ValidationFailed) as refused:
        users.create_user(session=session, email="josé@example.com", password="long enough!", role="sales")
    [error] = refused.value.errors
    assert error.field == "email" and "'é'" in error.message


def test_a_csv_selection_by_email_finds_the_idna_form(session: Session, backend: str) -> None:
    anna = ProfileFactory(email=email_addresses.normalize("anna@bücher.example"))
    selection = csv_selection(session=session, content="email\nanna@bücher.example\n")
    assert session.scalars(selection.ids).all() == [anna.id]


def test_the_sendgrid_sender_is_checked_at_start() -> None:
    from crm_segments.config import ConfigError, messaging_settings_from_config

    def sender(value: str) -> str:
        config = {"CRM_SEGMENTS_SENDGRID_API_KEY": "SG.key", "CRM_SEGMENTS_EMAIL_FROM": value}
        return messaging_settings_from_config(config).email_from

    assert sender("Café Shop <shop@bücher.example>") == "Café Shop <shop@xn--bcher-kva.example>"
    with pytest.raises(ConfigError, match="CRM_SEGMENTS_EMAIL_FROM.*'é'"):
        sender("Shop <josé@example.com>")


def _outcome(check: Callable[[str], str], value: str) -> str:
    try:
        return "ok: " + check(value)
    except AddressRefused as exc:
        return f"refused: {exc}"


EDGE_CASES = [
    "ann.smith.1@example.com", "Ann.Smith@Example.COM", "a@b.co", "x_y+z@sub.domain.org",
    "o'brien@example.ie", "a!#$%&'*+/=?^_`{|}~-@example.com", "Info@example.com", "SALES@Example.com",
    "postmaster@example.com", "a@xn--bcher-kva.example", "a@XN--BCHER-KVA.example", "a@localhost",
    "a@example", "a@test", "a@foo.test", "a@foo.invalid", "a@foo.local", "a@foo.onion", "a@1.2.3.4",
    "a@example.123", "a@-example.com", "a@example-.com", "a@exa_mple.com", "a@example..com",
    "a@.example.com", "a@example.com.", ".a@example.com", "a.@example.com", "a..b@example.com",
    "a@b@example.com", "@example.com", "a@", "a", "", "a b@example.com", '"a b"@example.com',
    "Ann <a@example.com>", "a@[127.0.0.1]", "ä@example.com", "a@bücher.example", "a@example.com\n",
    "a" * 64 + "@example.com", "a" * 65 + "@example.com", "a@" + "b" * 63 + ".com",
    "a@" + "b" * 64 + ".com", "a" * 200 + "@" + "b" * 40 + ".example.com",
    "a" * 230 + "@" + "b" * 19 + ".com", "a" * 231 + "@" + "b" * 19 + ".com",
    "a" * 240 + "@xn--bcher-kva.ex", "a@" + ".".join(["b" * 60] * 4) + ".com",
]


@pytest.mark.parametrize("value", EDGE_CASES)
def test_the_shortcut_for_plain_addresses_agrees_with_email_validator(value: str) -> None:
    assert _outcome(normalize, value) == _outcome(email_addresses._checked, value)


def test_plain_addresses_take_the_shortcut() -> None:
    assert email_addresses._plain("Ann.Smith.7@Example.COM") == "Ann.Smith.7@example.com"
    assert email_addresses._plain("a@foo.test") is None  # refused: email-validator gives the reason
    assert email_addresses._plain("ä@example.com") is None


ATOMS = st.text(alphabet="aZ09.-_+'!@ \"<>[]äxn", min_size=0, max_size=12)
DOMAINS = st.sampled_from(["example.com", "Example.COM", "xn--bcher-kva.example", "localhost", "foo.test",
                           "b.co", "a-.com", "123.45", "bücher.de", "ex..com", ""])


@settings(max_examples=400, deadline=None)
@given(local=ATOMS, domain=st.one_of(DOMAINS, ATOMS), padding=st.integers(0, 250))
def test_any_input_the_same_with_and_without_the_shortcut(local: str, domain: str, padding: int) -> None:
    for value in (f"{local}@{domain}", f"{local}{'a' * padding}@{domain}", local):
        assert _outcome(normalize, value) == _outcome(email_addresses._checked, value), value

"""Email addresses as the email provider takes them.

SendGrid's Mail Send definition types every address as ``format: email``: the RFC 5321 form, ASCII
only. An internationalised domain (``anna@bücher.example``) goes through as its IDNA (punycode) form,
``anna@xn--bcher-kva.example``, so addresses are stored that way; a local part with characters other
than ASCII (``josé@example.com``) cannot be sent through this provider at all, so it is refused where
the address comes in (API, CSV import, forms). An address stored before this rule (or written by the
host app in SQL) is checked again at send time by ``sendable``.
"""

from __future__ import annotations

import functools
import re

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, DOT_ATOM_TEXT, EMAIL_MAX_LENGTH

PROVIDER_RULE = "the email provider (SendGrid) accepts only ASCII there"


class AddressRefused(ValueError):
    """Not an address the provider can take; the message says why."""


def normalize(value: str) -> str:
    """A new address, checked (email-validator's syntax rules, no DNS lookup) and with its domain in
    ASCII (IDNA); raises AddressRefused naming the problem."""
    if (plain := _plain(value)) is not None:
        return plain
    return _checked(value)


def _checked(value: str) -> str:
    """``normalize`` by email-validator alone."""
    if not value.isascii() and (foreign := _foreign_local_characters(value)):
        raise AddressRefused(f"has {foreign} before the @: {PROVIDER_RULE}")
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise AddressRefused(str(exc)) from None
    if checked.ascii_email is None:  # not reached: without SMTPUTF8 the library always gives it
        raise AddressRefused(PROVIDER_RULE)
    return checked.ascii_email


# The usual address, an ASCII dot-atom before a single @ and ASCII host-name characters after it, is
# checked here with email-validator's own local-part pattern, its domain checked by email-validator
# once per domain: a 355,000-row import spent ≈ 30 µs an address re-parsing the same few domains.
# Anything else, and any address this cannot vouch for, goes to email-validator whole, so both paths
# accept, refuse and normalize the same addresses (tests/test_email_addresses.py).
_HOST = re.compile(r"[A-Za-z0-9.\-]+\Z")


def _plain(value: str) -> str | None:
    """``value`` as ``_checked`` gives it, or None to let ``_checked`` decide."""
    local, at, domain = value.partition("@")
    if not at or not value.isascii() or not _HOST.match(domain) or not DOT_ATOM_TEXT.match(local):
        return None
    if local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        return None  # written in lower case: email-validator does it
    known = _domain(domain)
    if known is None:
        return None  # refused: email-validator says why
    unicode_domain, ascii_domain = known
    address = f"{local}@{ascii_domain}"
    # email-validator's length check: the address as given, with the Unicode domain, with the ASCII one
    longest = max(len(value), len(f"{local}@{unicode_domain}".encode()), len(address))
    return address if longest <= EMAIL_MAX_LENGTH else None


@functools.lru_cache(maxsize=4096)
def _domain(domain: str) -> tuple[str, str] | None:
    """email-validator's Unicode and ASCII forms of an address's domain, None if it refuses it.

    Its domain check does not depend on the part before the @ (only the total length does, which
    ``_plain`` checks), so any valid local part stands in for it."""
    try:
        checked = validate_email(f"a@{domain}", check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return None
    return checked.domain, checked.ascii_domain


def sendable(address: str) -> str:
    """A stored address as it can be sent: ASCII ones as they are (they were checked when written),
    a domain with other characters in its IDNA form; AddressRefused when it cannot be sent."""
    if address.isascii():
        return address
    return normalize(address)


def lookup_key(value: str) -> str:
    """A typed or uploaded address in the form stored for it (to find a profile by it): like
    ``normalize``, but a non-ASCII local part is kept (stored before the rule, it can still be found).
    Raises AddressRefused for what is not an address at all."""
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise AddressRefused(str(exc)) from None
    if checked.local_part.isascii():
        return f"{checked.local_part}@{checked.ascii_domain}"
    return checked.normalized


def _foreign_local_characters(value: str) -> str:
    local = value.rpartition("@")[0]
    found = sorted({character for character in local if not character.isascii()})
    if not found:
        return ""
    listed = ", ".join(repr(character) for character in found)
    return f"a character other than ASCII ({listed})" if len(found) == 1 else \
        f"characters other than ASCII ({listed})"

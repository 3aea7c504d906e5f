"""Email addresses as the email provider takes them.

SendGrid's Mail Send definition types every address as ``format: email``: the RFC 5321 form, ASCII
only. An internationalised domain (``anna@bücher.example``) goes through as its IDNA (punycode) form,
``anna@xn--bcher-kva.example``, so addresses are stored that way; a local part with characters other
than ASCII (``josé@example.com``) cannot be sent through this provider at all, so it is refused where
the address comes in (API, CSV import, forms). An address stored before this rule (or written by the
host app in SQL) is checked again at send time by ``sendable``.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

PROVIDER_RULE = "the email provider (SendGrid) accepts only ASCII there"


class AddressRefused(ValueError):
    """Not an address the provider can take; the message says why."""


def normalize(value: str) -> str:
    """A new address, checked (email-validator's syntax rules, no DNS lookup) and with its domain in
    ASCII (IDNA); raises AddressRefused naming the problem."""
    if not value.isascii() and (foreign := _foreign_local_characters(value)):
        raise AddressRefused(f"has {foreign} before the @: {PROVIDER_RULE}")
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise AddressRefused(str(exc)) from None
    if checked.ascii_email is None:  # not reached: without SMTPUTF8 the library always gives it
        raise AddressRefused(PROVIDER_RULE)
    return checked.ascii_email


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

"""What a new password must be: long enough, and none of the passwords people pick most often.

The list is Django's, nearly 20,000 common passwords (common-passwords.txt.gz beside this module).
A password is refused when it is on the list as it is, or once the digits, punctuation and spaces at
its ends are taken off ("Summer2024!" is "summer" with a suffix), when it is the account's own email
address or the part before the @, or when it uses fewer than five different characters.
"""

from __future__ import annotations

import gzip
import string
from functools import cache
from importlib import resources

MIN_LENGTH = 12
MAX_LENGTH = 1024  # a bound on what a form may make the server hash
MIN_DISTINCT_CHARACTERS = 5
_ENDS = string.digits + string.punctuation + string.whitespace


@cache
def common_passwords() -> frozenset[str]:
    data = resources.files(__package__).joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode().split())


def problems(password: str, *, email: str = "") -> list[str]:
    """Why ``password`` is refused (each as a phrase after "The password ..."); empty when it is fine."""
    if len(password) < MIN_LENGTH:
        return [f"must be at least {MIN_LENGTH} characters"]
    if len(password) > MAX_LENGTH:
        return [f"must be at most {MAX_LENGTH} characters"]
    lowered = password.lower()
    core = lowered.strip(_ENDS)
    common = common_passwords()
    if lowered in common or lowered.strip() in common or (core and core in common):
        return ["is one of the most common passwords; choose another"]
    email = email.strip().lower()
    if email and (core in (email, email.partition("@")[0]) or lowered.strip() == email):
        return ["must not be the email address"]
    if len(set(password)) < MIN_DISTINCT_CHARACTERS:
        return [f"must use at least {MIN_DISTINCT_CHARACTERS} different characters"]
    return []

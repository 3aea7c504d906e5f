"""Password hashes: Argon2id with OWASP's recommended parameters.

OWASP's Password Storage Cheat Sheet puts Argon2id first, at no less than 19 MiB of memory, 2
iterations and 1 degree of parallelism; checking a password so costs about 40 ms of one core. The
alternatives cost more for the same protection: OWASP's scrypt (N=2**17, r=8, p=1, or N=2**15 with
p=3) takes about 0.25 s and PBKDF2-HMAC-SHA256 at 600,000 rounds about 0.13 s, and Werkzeug's scrypt
default (N=2**15, r=8, p=1, the hashes made before) is a third of what OWASP asks of scrypt. A sign-in
must stay well under a second on a busy machine, so the fast one that meets the recommendation wins.

Hashes in Werkzeug's formats (``scrypt:...``, ``pbkdf2:...``) still verify, and ``needs_rehash`` says
so: a sign-in replaces such a hash, and an Argon2 hash made with other parameters.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from werkzeug.security import check_password_hash

# OWASP: m=19 MiB, t=2, p=1 (Password Storage Cheat Sheet, Argon2id).
MEMORY_KIB = 19 * 1024
ITERATIONS = 2
PARALLELISM = 1

_hasher = PasswordHasher(time_cost=ITERATIONS, memory_cost=MEMORY_KIB, parallelism=PARALLELISM,
                         hash_len=32, salt_len=16, type=Type.ID)
ARGON2ID = "$argon2id$"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches the stored hash; an unusable or unknown hash matches nothing."""
    if stored.startswith("$argon2"):
        try:
            return _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
    try:
        return check_password_hash(stored, password)
    except ValueError:  # a method Werkzeug does not know
        return False


def needs_rehash(stored: str) -> bool:
    """Whether a hash that just verified should be replaced by one made with today's parameters."""
    if not stored.startswith(ARGON2ID):
        return True
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


@cache
def _nobody() -> str:
    return hash_password("the password of nobody: checked so an unknown email takes as long as a known one")


def verify_nobody(password: str) -> None:
    """Spend the time a real check takes, so a sign-in's time does not tell whether the email exists."""
    verify_password(_nobody(), password)

"""Web tests: the signed-in clients come from tests/signed_in.py; its helpers are re-exported here."""

from __future__ import annotations

from tests.signed_in import csrf_token_from, login

__all__ = ["csrf_token_from", "login"]

"""Unsubscribe tokens are signed once per message with a signer made once; they are exactly the tokens
itsdangerous' ``URLSafeSerializer`` makes, so links in emails sent before stay valid."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeSerializer

from crm_segments.delivery.links import read_unsubscribe_token, unsubscribe_token

KEY = "unsubscribe-token-test-key-0123456789"


@pytest.mark.parametrize(("profile_id", "message_id", "channel"),
                         [(1, 2, "email"), (123_456, None, "sms"), (5, 99_999_999, "email")])
def test_a_token_is_the_serializers_and_reads_back(profile_id: int, message_id: int | None,
                                                   channel: str) -> None:
    token = unsubscribe_token(KEY, profile_id=profile_id, message_id=message_id, channel=channel)

    expected = URLSafeSerializer(KEY, salt="crm-segments-unsubscribe").dumps(
        {"p": profile_id, "c": channel, "m": message_id})
    assert token == expected
    read = read_unsubscribe_token(KEY, token)
    assert read is not None
    assert (read.profile_id, read.channel, read.message_id) == (profile_id, channel, message_id)


def test_a_token_signed_with_another_key_is_refused() -> None:
    token = unsubscribe_token(KEY + "-other", profile_id=7, message_id=8)

    assert read_unsubscribe_token(KEY, token) is None


def test_without_a_signing_key_no_token_is_made() -> None:
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        unsubscribe_token("", profile_id=7, message_id=8)

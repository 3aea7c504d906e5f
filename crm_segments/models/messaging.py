"""Messages (the outbox), their delivery events, consent changes and editable message templates.

A message row is written before any provider is called and is unique by ``dedupe_key``
("enrollment:{id}:step:{key}", "test-send:{uuid}"), so a step can never produce two messages.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from crm_segments.db import Base, UTCDateTime, utcnow

from ._columns import choice, created_at_column, updated_at_column
from .profiles import CONSENT_SOURCES
from .tags import ENTITY_TYPE_LENGTH

CHANNELS = ("email", "sms")
# Transactional and test messages are exempt from frequency caps.
MESSAGE_CATEGORIES = ("transactional", "marketing", "test")
CONTENT_TYPES = ("evergreen", "seasonal", "transactional", "sales", "marketing", "congratulatory", "trendy")
PROVIDERS = ("sendgrid", "twilio", "local")
MESSAGE_STATUSES = (
    "pending",      # waiting for its send time (or a retry, quiet hours, a frequency cap)
    "sending",      # handed to the provider; outcome not written yet
    "unknown",      # the provider may have taken it (timeout, crash): settled by delivery events
    "unconfirmed",  # unknown, and no delivery event came in time: a person sends it again or closes it
    "sent",         # the provider accepted it
    "delivered", "opened", "clicked",
    "bounced", "dropped", "failed", "undelivered",  # did not arrive
    "unsubscribed", "spam_report",                   # arrived; the recipient said no
    "suppressed",   # never sent: no consent, bounced address, no address (status_reason says which)
    "skipped",      # never sent: cancelled or expired
)
PROVIDER_ID_SET = "provider_message_id IS NOT NULL"
SENT = "sent_at IS NOT NULL"
# Message ids stay below 2**31 for years; events grow faster: 64-bit keys on PostgreSQL.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


class Message(Base):
    __tablename__ = "crm_messages"
    # A message row is written three times on its way out (claimed, marked sending, its answer), and
    # each write adds an entry to every index unless the index's predicate leaves the row out (a claim
    # could be a HOT update, which adds none, only if its page had room for a new version of each of
    # its rows, as a part is claimed together). The provider's id and the sending time, empty until
    # the answer, are indexed only where set.
    __table_args__ = (
        Index("ix_crm_messages_due", "status", "next_attempt_at"),
        # Frequency caps count a profile's recent sends per channel; a profile's messages (and the
        # cascade of its deletion) are found by its first column.
        Index("ix_crm_messages_profile_channel_attempted", "profile_id", "channel", "attempted_at"),
        Index("ix_crm_messages_provider_message_id", "provider_message_id",
              postgresql_where=text(PROVIDER_ID_SET), sqlite_where=text(PROVIDER_ID_SET)),
        Index("ix_crm_messages_enrollment", "enrollment_id"),
        Index("ix_crm_messages_workflow_created", "workflow_id", "created_at"),
        # The message log's date range (keyset pages on id within it).
        Index("ix_crm_messages_created_at", "created_at", "id"),
        # The outbox page lists sent messages newest first.
        Index("ix_crm_messages_sent_at", "sent_at", postgresql_where=text(SENT), sqlite_where=text(SENT)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    # Who asked for it; plain columns the workflow models may reference (no FK: history outlives them).
    workflow_id: Mapped[int | None]
    enrollment_id: Mapped[int | None]
    step_key: Mapped[str | None] = mapped_column(String(40))
    profile_id: Mapped[int] = mapped_column(ForeignKey("crm_profiles.id", ondelete="CASCADE"))
    # A message to a user (the profile's owner, a test send) instead of the profile itself.
    recipient_user_id: Mapped[int | None] = mapped_column(ForeignKey("crm_users.id", ondelete="SET NULL"))
    # The record the template showed: "profile" or a registered record type, as on its enrollment.
    record_type: Mapped[str | None] = mapped_column(String(ENTITY_TYPE_LENGTH))
    record_id: Mapped[int | None]

    channel: Mapped[str] = mapped_column(choice(*CHANNELS, name="message_channel"))
    category: Mapped[str] = mapped_column(choice(*MESSAGE_CATEGORIES, name="message_category"))
    template_key: Mapped[str] = mapped_column(String(120))
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    # Exactly what goes out: rendered once, before the first attempt, and kept for retries.
    rendered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    to_address: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str | None] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    text_body: Mapped[str] = mapped_column(Text, default="")

    status: Mapped[str] = mapped_column(choice(*MESSAGE_STATUSES, name="message_status"), default="pending")
    status_reason: Mapped[str | None] = mapped_column(String(200))
    provider: Mapped[str | None] = mapped_column(choice(*PROVIDERS, name="message_provider"))
    provider_message_id: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # A dispatcher's claim on a pending row; an expired claim may be taken by another dispatcher.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    attempted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # last hand-over started
    last_error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(40))

    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    clicked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # bounced, dropped, failed...
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()


class MessageEvent(Base):
    """A delivery event or inbound message from a provider; ``provider_event_id`` makes replays no-ops."""

    __tablename__ = "crm_message_events"
    __table_args__ = (Index("ix_crm_message_events_message", "message_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(choice(*PROVIDERS, name="message_event_provider"))
    provider_event_id: Mapped[str] = mapped_column(String(200), unique=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("crm_messages.id", ondelete="CASCADE"))
    profile_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_profiles.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(40))  # the provider's own name: delivered, bounce, ...
    detail: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[dt.datetime] = created_at_column()
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# What can change consent (or, for "bounce", stop email without changing it). The profile's own
# ``*_consent_source`` keeps CONSENT_SOURCES: a complaint shows there as "webhook".
CONSENT_CHANGE_SOURCES = (*CONSENT_SOURCES, "bounce", "complaint")


class ConsentChange(Base):
    """The consent history: a profile's email or SMS consent changed (or its address bounced), when,
    through what (``source``), by whom (``actor``, and ``user_id`` for a person of the product) and why.

    ``previous_source`` and ``previous_at`` keep what the profile said before the change, so a START
    can give back the consent a STOP withdrew (``restores_id`` names that STOP's row)."""

    __tablename__ = "crm_consent_changes"
    __table_args__ = (Index("ix_crm_consent_changes_profile_at", "profile_id", "changed_at"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    # references crm_profiles: MEMBER_CONSENT_PROFILE_TRIGGERS (models/triggers.py), checked per statement
    profile_id: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(choice(*CHANNELS, name="consent_change_channel"))
    old_value: Mapped[bool]
    new_value: Mapped[bool]
    source: Mapped[str] = mapped_column(choice(*CONSENT_CHANGE_SOURCES, name="consent_change_source"))
    actor: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(String(500), default="")
    previous_source: Mapped[str | None] = mapped_column(String(20))
    previous_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    restores_id: Mapped[int | None] = mapped_column(
        _BigId, ForeignKey("crm_consent_changes.id", ondelete="SET NULL"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("crm_messages.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("crm_users.id", ondelete="SET NULL"))
    changed_at: Mapped[dt.datetime] = created_at_column()


class MessageTemplate(Base):
    """A message template as edited in the UI; shipped ones keep their files' text for "reset"."""

    __tablename__ = "crm_message_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)  # "sales/quote_follow_up"
    channel: Mapped[str] = mapped_column(choice(*CHANNELS, name="message_template_channel"))
    content_type: Mapped[str] = mapped_column(choice(*CONTENT_TYPES, name="message_template_content_type"))
    name: Mapped[str] = mapped_column(String(120))
    subject: Mapped[str | None] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    text_body: Mapped[str] = mapped_column(Text)
    is_builtin: Mapped[bool] = mapped_column(default=False)
    shipped: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {"subject", "html_body", "text_body"}
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("crm_users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()


class ChannelPause(Base):
    """A channel (email or SMS) whose provider refused the product's credentials.

    While ``paused_at`` is set, no dispatcher in any process claims the channel's messages; they stay
    queued. An admin resumes it (``resumed_at``/``resumed_by_id``) once the key is fixed. One row per
    channel, kept after a resume so the last pause stays on record."""

    __tablename__ = "crm_channel_pauses"

    channel: Mapped[str] = mapped_column(choice(*CHANNELS, name="channel_pause_channel"), primary_key=True)
    provider: Mapped[str] = mapped_column(choice(*PROVIDERS, name="channel_pause_provider"))
    error: Mapped[str] = mapped_column(Text)        # the provider's own words
    error_code: Mapped[str | None] = mapped_column(String(40))
    message_id: Mapped[int | None]                  # the message that got the refusal (no FK: history)
    paused_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    resumed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    resumed_by_id: Mapped[int | None] = mapped_column(ForeignKey("crm_users.id", ondelete="SET NULL"))

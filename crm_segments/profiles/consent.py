"""Consent: every change, from every source, writes a history row in the same transaction.

A profile has email and SMS consent, each with the time and source of the consent in force
(``*_consent_at``, ``*_consent_source``). Each change adds a ``ConsentChange`` row saying what it
was before, what it is now, through what (``source``), by whom (``actor``) and why (``detail``). A
hard bounce stops email without changing consent; it is in the history too (source "bounce").

An SMS STOP withdraws consent; a START gives back only consent a STOP withdrew, with the source and
time it had before the STOP (``restore_after_stop``). Consent withdrawn any other way (the UI, an
unsubscribe link, a complaint) or never given is not given by a START.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.db import utcnow
from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.models import ConsentChange, Profile
from crm_segments.models.messaging import CHANNELS

# Sources the history knows that the profile's own source column shows as the door they came in by.
PROFILE_SOURCE = {"complaint": "webhook", "bounce": "webhook"}
STOP_SOURCE = "sms_keyword"  # a STOP, or Twilio refusing a number that replied STOP (21610)
ACTOR_LENGTH = 200
DETAIL_LENGTH = 500


@dataclass(frozen=True)
class Actor:
    """Who made a change: a label kept with the row (it outlives users and keys) and the user, if any."""

    label: str = ""
    user_id: int | None = None


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise ValueError(f"channel: {channel!r} is not email or sms")


def consent_of(profile: Profile, channel: str) -> tuple[bool, str | None, dt.datetime | None]:
    _check_channel(channel)
    return (bool(getattr(profile, f"{channel}_consent")), getattr(profile, f"{channel}_consent_source"),
            getattr(profile, f"{channel}_consent_at"))


def set_consent(session: Session, *, profile: Profile, channel: str, granted: bool, source: str,
                actor: Actor | None = None, detail: str = "", message_id: int | None = None,
                now: dt.datetime | None = None) -> ConsentChange | None:
    """Give or withdraw consent; the history row, or None (nothing written) when it already was so."""
    old, old_source, old_at = consent_of(profile, channel)
    if old == granted:
        return None
    now = now or utcnow()
    _write_profile(profile, channel, granted, PROFILE_SOURCE.get(source, source), now)
    return _history(session, profile=profile, channel=channel, old=old, new=granted, source=source,
                    actor=actor, detail=detail, message_id=message_id, previous=(old_source, old_at), now=now)


def withdrawn_by_stop(session: Session, profile: Profile, channel: str = "sms") -> ConsentChange | None:
    """The STOP that withdrew the profile's consent, when that is why it has none now."""
    granted, source, _ = consent_of(profile, channel)
    if granted or source != STOP_SOURCE:
        return None
    return session.scalars(
        select(ConsentChange).where(ConsentChange.profile_id == profile.id, ConsentChange.channel == channel,
                                    ConsentChange.source == STOP_SOURCE, ConsentChange.new_value.is_(False))
        .order_by(ConsentChange.changed_at.desc(), ConsentChange.id.desc()).limit(1)
    ).first()


def restore_after_stop(session: Session, *, profile: Profile, channel: str = "sms",
                       actor: Actor | None = None, detail: str = "",
                       now: dt.datetime | None = None) -> ConsentChange | None:
    """A START: give back the consent a STOP withdrew, as it was before; None when a STOP is not why
    the profile has no consent (it never gave it, or withdrew it another way)."""
    granted, source, stopped_at = consent_of(profile, channel)
    if granted or source != STOP_SOURCE:
        return None
    stop = withdrawn_by_stop(session, profile, channel)
    now = now or utcnow()
    # A STOP recorded before the history kept the consent it withdrew: the START itself is the source.
    back_source = stop.previous_source if stop is not None and stop.previous_source else STOP_SOURCE
    back_at = stop.previous_at if stop is not None and stop.previous_source else now
    _write_profile(profile, channel, True, back_source, back_at or now)
    return _history(session, profile=profile, channel=channel, old=False, new=True, source=STOP_SOURCE,
                    actor=actor, detail=detail, previous=(source, stopped_at), now=now,
                    restores_id=stop.id if stop is not None else None)


def record_bounce(session: Session, *, profile: Profile, actor: Actor | None = None, detail: str = "",
                  message_id: int | None = None, now: dt.datetime | None = None) -> ConsentChange | None:
    """A hard bounce: no email to this address until it changes; None when it was marked already."""
    if profile.email_bounced_at is not None:
        return None
    now = now or utcnow()
    profile.email_bounced_at = now
    consent, source, at = consent_of(profile, "email")
    return _history(session, profile=profile, channel="email", old=consent, new=consent, source="bounce",
                    actor=actor, detail=detail, message_id=message_id, previous=(source, at), now=now)


def _write_profile(profile: Profile, channel: str, granted: bool, source: str, at: dt.datetime) -> None:
    setattr(profile, f"{channel}_consent", granted)
    setattr(profile, f"{channel}_consent_source", source)
    setattr(profile, f"{channel}_consent_at", at)


def _history(session: Session, *, profile: Profile, channel: str, old: bool, new: bool, source: str,
             actor: Actor | None, detail: str, previous: tuple[str | None, dt.datetime | None],
             now: dt.datetime, message_id: int | None = None,
             restores_id: int | None = None) -> ConsentChange:
    actor = actor or Actor()
    row = ConsentChange(profile_id=profile.id, channel=channel, old_value=old, new_value=new, source=source,
                        actor=actor.label[:ACTOR_LENGTH], detail=detail[:DETAIL_LENGTH],
                        previous_source=previous[0], previous_at=previous[1], restores_id=restores_id,
                        message_id=message_id, user_id=actor.user_id, changed_at=now)
    session.add(row)
    session.flush()
    return row


def change_from_form(session: Session, *, profile_id: int, channel: str, granted: bool, actor: Actor,
                     note: str, now: dt.datetime | None = None) -> ConsentChange | None:
    """A person records consent given or withdrawn (the profile page): the note says how it was given."""
    errors = []
    if channel not in CHANNELS:
        errors.append(FieldError("channel", "choose email or sms"))
    note = " ".join(note.split())
    if granted and not note:
        errors.append(FieldError("note", "say how the consent was given (e.g. signed form, phone call)"))
    if len(note) > DETAIL_LENGTH:
        errors.append(FieldError("note", f"at most {DETAIL_LENGTH} characters"))
    if errors:
        raise ValidationFailed(errors)
    profile = session.get(Profile, profile_id)
    if profile is None:
        raise ValidationFailed([FieldError("profile", f"no profile with id {profile_id}")])
    return set_consent(session, profile=profile, channel=channel, granted=granted, source="ui", actor=actor,
                       detail=note, now=now)


def history(session: Session, *, profile_id: int, limit: int, after: int | None = None) -> tuple[
        list[ConsentChange], int | None]:
    """A profile's consent history, newest first; ``after`` is the previous page's last id. Returns the
    rows and the id to pass as ``after`` for the next page (None on the last)."""
    query = select(ConsentChange).where(ConsentChange.profile_id == profile_id)
    if after is not None:
        query = query.where(ConsentChange.id < after)
    rows = list(session.scalars(query.order_by(ConsentChange.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].id if more and rows else None

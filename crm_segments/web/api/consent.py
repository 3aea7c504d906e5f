"""A profile's consent history: every change of its email and SMS consent (and every bounce of its
address), newest first, with its source, time and actor. Readable with any API key."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from flask import Response, jsonify, request
from pydantic import BaseModel, Field

from crm_segments.kernel.errors import NotFound
from crm_segments.models import Profile
from crm_segments.profiles import consent
from crm_segments.records.validation import validate
from crm_segments.schemas._base import InputModel, OutputModel
from crm_segments.web.db import db_session

from .routes import Route

MAX_HISTORY_PAGE = 200


class ConsentHistoryParams(InputModel):
    limit: int = Field(default=50, ge=1, le=MAX_HISTORY_PAGE)
    after: int | None = Field(default=None, ge=1, le=2**63 - 1,
                              description="The next_after of the previous page (older changes).")


class ConsentChangeOut(OutputModel):
    id: int
    channel: Literal["email", "sms"]
    old_value: bool = Field(description="Consent before the change.")
    new_value: bool = Field(description="Consent after it (the same as before for a bounce).")
    source: str = Field(description="Through what: ui, api, import, unsubscribe_link, sms_keyword (STOP, "
                                    "START, or Twilio's 21610 for a number that replied STOP), webhook "
                                    "(the provider's unsubscribe event), complaint (a spam report), "
                                    "bounce (a hard bounce: no email to the address, consent unchanged), "
                                    "demo, form.")
    actor: str = Field(description="Who: a person's email, an API key, the number that texted, the "
                                   "recipient of an unsubscribe link, the provider.")
    user_id: int | None = Field(description="The person of this product who made it, if one did.")
    detail: str = Field(description="Why or how: a note, the keyword, the line of a CSV file, the event.")
    previous_source: str | None = Field(description="The source of the consent before the change.")
    previous_at: dt.datetime | None = Field(description="When the consent before the change was given or "
                                                        "withdrawn.")
    restores_id: int | None = Field(description="For a START: the STOP whose withdrawal it undid (the "
                                                 "consent comes back with its source and time).")
    message_id: int | None = Field(description="The message it was about (unsubscribe link, bounce, ...).")
    changed_at: dt.datetime


class ConsentHistoryPage(BaseModel):
    profile_id: int
    email_consent: bool
    sms_consent: bool
    items: list[ConsentChangeOut]
    next_after: int | None = Field(description="Pass as `after` for the next (older) page; null on the last.")


def consent_history(id: int) -> Response:
    params = validate(ConsentHistoryParams, request.args.to_dict())
    session = db_session()
    profile = session.get(Profile, id)
    if profile is None:
        raise NotFound(f"no profile with id {id}")
    rows, next_after = consent.history(session, profile_id=id, limit=params.limit, after=params.after)
    page = ConsentHistoryPage(profile_id=id, email_consent=profile.email_consent,
                              sms_consent=profile.sms_consent, next_after=next_after,
                              items=[ConsentChangeOut.model_validate(row) for row in rows])
    return jsonify(page.model_dump(mode="json"))


def consent_routes() -> list[Route]:
    return [
        Route("/profiles/<int:id>/consent-history", "GET", "profiles_consent_history", consent_history,
              "A profile's consent history, newest first: every change of its email and SMS consent "
              "and every bounce, with source, time and actor", "profiles",
              query=(ConsentHistoryParams,), out=ConsentHistoryPage, errors=(401, 404, 422)),
    ]

"""Giving many profiles one owner (or none): the profile service's upserts, a batch at a time, in the
caller's transaction, so the change is all or nothing and segments and workflows react as to any
other profile write."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.models import Profile
from crm_segments.schemas.batch import MAX_BATCH, BatchIn

from . import crud
from .kind import WriteContext
from .profiles import PROFILES

MAX_PROFILES = 10_000  # one bulk owner change; a larger base is changed through the API or a CSV import


def assign_owner(session: Session, profile_ids: Sequence[int], owner_id: int | None, *,
                 ctx: WriteContext) -> int:
    """Set ``owner_id`` on every profile of ``profile_ids`` that exists; how many were named."""
    if len(profile_ids) > MAX_PROFILES:
        raise ValidationFailed([FieldError("profile_id", f"at most {MAX_PROFILES:,} profiles at once")])
    ids = sorted(set(profile_ids))
    changed = 0
    for start in range(0, len(ids), MAX_BATCH):
        chunk = ids[start:start + MAX_BATCH]
        keys = session.execute(select(Profile.external_id).where(Profile.id.in_(chunk))).scalars().all()
        items = [{"external_id": key, "owner_id": owner_id} for key in keys]
        crud.upsert_many(PROFILES, session=session, batch=BatchIn(items=items), ctx=ctx)
        changed += len(items)
    return changed

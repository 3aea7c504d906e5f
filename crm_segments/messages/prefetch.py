"""Load what a batch of messages renders from (owners, recipient users, triggering records with their
lines) with one query per kind, into the session: ``compose`` and ``build_context`` then find each
row with ``session.get`` in the identity map instead of a query per message."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from crm_segments.models import Message, Profile, User
from crm_segments.models.record_types import record_models


def prefetch(session: Session, pairs: Iterable[tuple[Message, Profile]]) -> list[Any]:
    """The loaded rows; keep the list while rendering (the identity map holds rows weakly)."""
    pairs = list(pairs)
    user_ids = {p.owner_id for _, p in pairs if p.owner_id is not None}
    user_ids |= {m.recipient_user_id for m, _ in pairs if m.recipient_user_id is not None}
    loaded: list[Any] = []
    if user_ids:
        loaded += session.scalars(select(User).where(User.id.in_(user_ids))).all()
    records: dict[str, set[int]] = defaultdict(set)
    models = record_models()
    for message, _ in pairs:
        if message.record_type in models and message.record_id is not None:
            records[message.record_type].add(message.record_id)
    for record_type, ids in records.items():
        model = models[record_type]
        query = select(model).where(model.id.in_(ids))
        if hasattr(model, "lines"):
            query = query.options(selectinload(model.lines))
        loaded += session.scalars(query).all()
    return loaded

"""How each rule scope becomes SQL: the FROM clause, its columns by field name, and its owner.

Every related-records condition binds its source afresh (new aliases), so a source can be nested in
itself ("quotes where ... and no other quote ...") and correlate with the scope around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_
from sqlalchemy.orm import aliased, join, outerjoin

from crm_segments.models import Category, Job, JobLine, Product, Profile
from crm_segments.models.record_types import by_plural

from .fields import PROFILE_FIELDS, SOURCES


@dataclass(frozen=True)
class BoundScope:
    source: str
    from_: Any  # an entity, alias or join usable in select_from()
    id: Any  # column expression of the row id
    owner_id: Any  # column expression of the profile the rows belong to
    columns: dict[str, Any]  # field name -> column expression
    entity: Any  # the profile entity, for custom attributes and RFM scores

    @property
    def tag_entity(self) -> str | None:
        """The tag entity type of the scope's rows, when they carry tags."""
        if self.source == "profile":
            return "profile"
        kind = by_plural(self.source)
        return kind.name if kind is not None and kind.taggable else None


def bind_profile(entity: Any = Profile) -> BoundScope:
    columns = {f.name: getattr(entity, f.column) for f in PROFILE_FIELDS}
    return BoundScope("profile", entity, entity.id, entity.id, columns, entity)


def bind_source(name: str, *, plain: bool = False) -> BoundScope:
    """``plain`` binds the mapped class itself (the top of a record rule); else fresh aliases."""
    if name == "purchases":
        return _bind_purchases()
    kind = by_plural(name)
    if kind is None:
        raise KeyError(name)
    entity = kind.model if plain else aliased(kind.model)
    columns = {f.name: getattr(entity, f.column) for f in SOURCES[name].fields}
    return BoundScope(name, entity, entity.id, getattr(entity, kind.owner), columns, None)


def _bind_purchases() -> BoundScope:
    line, job, product, category = aliased(JobLine), aliased(Job), aliased(Product), aliased(Category)
    from_ = outerjoin(
        outerjoin(
            join(line, job, and_(job.id == line.job_id, job.status == "completed")),
            product, product.id == line.product_id,
        ),
        category, category.id == product.category_id,
    )
    columns: dict[str, Any] = {
        "product": product.sku,
        "product_name": product.name,
        "category": category.name,
        "quantity": line.quantity,
        "amount": line.amount,
        "purchased_at": job.finished_at,
    }
    return BoundScope("purchases", from_, line.id, job.profile_id, columns, None)

"""Products and their categories; a purchase is a completed job's line for a product."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_segments.db import Base, Money

from ._columns import created_at_column, external_id_column


class Category(Base):
    __tablename__ = "crm_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = external_id_column()
    name: Mapped[str] = mapped_column(String(120), unique=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_categories.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = created_at_column()

    products: Mapped[list[Product]] = relationship(back_populates="category")


class Product(Base):
    __tablename__ = "crm_products"
    __table_args__ = (CheckConstraint("price >= 0", name="price_nonnegative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = external_id_column()
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_categories.id", ondelete="SET NULL"), index=True
    )
    price: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = created_at_column()

    category: Mapped[Category | None] = relationship(back_populates="products")

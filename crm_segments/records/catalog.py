"""Products and categories as record types. They belong to no profile, so writes signal no change."""

from __future__ import annotations

from crm_segments.models import Category, Product
from crm_segments.schemas import (
    CategoryCreate,
    CategoryFilters,
    CategoryOut,
    CategoryUpdate,
    ProductCreate,
    ProductFilters,
    ProductOut,
    ProductUpdate,
)

from .kind import Kind
from .references import CATEGORY, PARENT_CATEGORY

CATEGORIES = Kind(
    name="categories", label="category", model=Category,
    create_schema=CategoryCreate, update_schema=CategoryUpdate, out_schema=CategoryOut,
    filter_schema=CategoryFilters, unique=("external_id", "name"), references=(PARENT_CATEGORY,),
    owner=None,
)

PRODUCTS = Kind(
    name="products", label="product", model=Product,
    create_schema=ProductCreate, update_schema=ProductUpdate, out_schema=ProductOut,
    filter_schema=ProductFilters, unique=("external_id", "sku"), references=(CATEGORY,), owner=None,
)

"""References shared by record types."""

from __future__ import annotations

from crm_segments.models import Category, Product, Profile, Quote, User

from .kind import Reference

PROFILE = Reference("profile_id", "profile_external_id", Profile, "external_id", "profile", required=True)
PRODUCT = Reference("product_id", "product_sku", Product, "sku", "product")
QUOTE = Reference("quote_id", "quote_external_id", Quote, "external_id", "quote")
CATEGORY = Reference("category_id", "category_external_id", Category, "external_id", "category")
PARENT_CATEGORY = Reference("parent_id", "parent_external_id", Category, "external_id", "category")
OWNER = Reference("owner_id", "owner_email", User, "email", "owner")

"""The rows demo profiles point at: the demo catalog and a few owners, reused when already present."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from crm_segments.demo.catalog import categories, products
from crm_segments.demo.generator import ProductRef, Reference
from crm_segments.models import Category, Product, User

# Sales reps who own demo accounts. They cannot sign in: the stored hash matches no password,
# so the demo never ships a login with a known password.
DEMO_OWNERS = (
    ("Alex Morgan", "alex.morgan@sales.example.com"),
    ("Priya Shah", "priya.shah@sales.example.com"),
    ("Jordan Lee", "jordan.lee@sales.example.com"),
    ("Sam Fischer", "sam.fischer@sales.example.com"),
    ("Camille Roux", "camille.roux@sales.example.com"),
)
UNUSABLE_PASSWORD_HASH = "!"


def ensure_reference(connection: Connection) -> Reference:
    category_ids = _ensure_categories(connection)
    return Reference(products=_ensure_products(connection, category_ids),
                     owner_ids=_ensure_owners(connection))


def _ensure_categories(connection: Connection) -> dict[str, int]:
    """Category id by demo key; a category with the same name is reused (names are unique)."""
    by_name = {name: id_ for name, id_ in connection.execute(select(Category.name, Category.id))}
    ids: dict[str, int] = {}
    for category in categories():  # parents come first
        category_id = by_name.get(category.name)
        if category_id is None:
            category_id = connection.execute(
                insert(Category).values(
                    external_id=category.key, name=category.name,
                    parent_id=ids[category.parent_key] if category.parent_key else None,
                ).returning(Category.id)
            ).scalar_one()
        ids[category.key] = category_id
    return ids


def _ensure_products(connection: Connection, category_ids: dict[str, int]) -> tuple[ProductRef, ...]:
    by_sku = {sku: id_ for sku, id_ in connection.execute(select(Product.sku, Product.id))}
    refs = []
    for product in products():
        product_id = by_sku.get(product.sku)
        if product_id is None:
            product_id = connection.execute(
                insert(Product).values(
                    external_id=product.key, sku=product.sku, name=product.name,
                    category_id=category_ids[product.subcategory_key],
                    price=Decimal(product.usd_cents).scaleb(-2), is_active=True,
                ).returning(Product.id)
            ).scalar_one()
        refs.append(ProductRef(product_id, product))
    return tuple(refs)


def _ensure_owners(connection: Connection) -> tuple[int, ...]:
    emails = [email for _, email in DEMO_OWNERS]
    existing = connection.execute(select(User.email, User.id).where(User.email.in_(emails)))
    by_email = {email: id_ for email, id_ in existing}
    ids = []
    for name, email in DEMO_OWNERS:
        user_id = by_email.get(email)
        if user_id is None:
            user_id = connection.execute(
                insert(User).values(email=email, name=name, role="sales",
                                    password_hash=UNUSABLE_PASSWORD_HASH, is_active=True)
                .returning(User.id)
            ).scalar_one()
        ids.append(user_id)
    return tuple(ids)

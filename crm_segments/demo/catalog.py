"""The demo product catalog: top-level categories, subcategories and products with USD list prices."""

from __future__ import annotations

from dataclasses import dataclass

# category -> subcategory -> (product, USD price, typical quantity low, high)
CATALOG: tuple[tuple[str, tuple[tuple[str, tuple[tuple[str, float, int, int], ...]], ...]], ...] = (
    ("Heating & Cooling", (
        ("Air Conditioners", (("Split AC 12k BTU", 1899.00, 1, 2), ("Split AC 18k BTU", 2499.00, 1, 2),
                              ("Ducted AC System", 7499.00, 1, 1))),
        ("Heat Pumps", (("Air-Source Heat Pump 8 kW", 8900.00, 1, 1),
                        ("Air-Source Heat Pump 12 kW", 11400.00, 1, 1), ("Hybrid Heat Pump", 6900.00, 1, 1))),
        ("Furnaces & Boilers", (("High-Efficiency Gas Furnace", 3900.00, 1, 1),
                                ("Combi Boiler", 3200.00, 1, 1))),
        ("Thermostats", (("Smart Thermostat", 249.00, 1, 3),)),
    )),
    ("Solar & Energy", (
        ("Solar Panels", (("Solar Panel 400 W", 289.00, 8, 24), ("Solar Panel 450 W", 329.00, 8, 24),
                          ("Solar Inverter 6 kW", 1490.00, 1, 1))),
        ("Home Batteries", (("Home Battery 10 kWh", 6900.00, 1, 2),
                            ("Home Battery 13.5 kWh", 8900.00, 1, 2))),
        ("EV Charging", (("Level 2 EV Charger", 799.00, 1, 2), ("Smart EV Charger", 1099.00, 1, 2))),
    )),
    ("Plumbing", (
        ("Water Heaters", (("Tankless Water Heater", 1450.00, 1, 1),
                           ("Heat Pump Water Heater", 2290.00, 1, 1),
                           ("50-Gallon Water Heater", 990.00, 1, 1))),
        ("Fixtures", (("Kitchen Faucet", 249.00, 1, 2), ("Low-Flow Toilet", 389.00, 1, 3),
                      ("Water Softener", 1190.00, 1, 1))),
    )),
    ("Security", (
        ("Cameras", (("Outdoor Camera", 199.00, 1, 6), ("Video Doorbell", 179.00, 1, 2))),
        ("Alarm Systems", (("Alarm Starter Kit", 449.00, 1, 1), ("Motion Sensor", 39.00, 2, 8),
                           ("Door/Window Sensor", 29.00, 2, 12))),
        ("Smart Locks", (("Smart Deadbolt", 259.00, 1, 4),)),
    )),
    ("Networking", (
        ("Wi-Fi", (("Mesh Wi-Fi Kit", 399.00, 1, 2), ("Business Access Point", 549.00, 1, 8))),
        ("Cabling", (("Cat6 Cable Run", 120.00, 2, 24), ("Network Rack", 690.00, 1, 1))),
    )),
    ("Services", (
        ("Installation", (("Standard Installation", 350.00, 1, 1), ("Complex Installation", 950.00, 1, 1))),
        ("Maintenance Plans", (("Annual Maintenance Plan", 240.00, 1, 1),
                               ("Premium Care Plan", 480.00, 1, 1))),
        ("Inspections", (("Energy Audit", 299.00, 1, 1), ("Safety Inspection", 149.00, 1, 1))),
        ("Repairs", (("Repair Visit", 129.00, 1, 1), ("Labor Hour", 95.00, 1, 8),
                     ("Emergency Call-Out", 249.00, 1, 1))),
        ("Design & Consulting", (("Design Consultation", 180.00, 1, 3),)),
    )),
)

SERVICES_CATEGORY = "Services"
INSTALLATION_SUBCATEGORY = "Installation"


@dataclass(frozen=True, slots=True)
class CatalogCategory:
    key: str  # stable external id
    name: str
    parent_key: str | None


@dataclass(frozen=True, slots=True)
class CatalogProduct:
    key: str  # stable external id
    sku: str
    name: str
    category: str  # top-level category name
    subcategory: str
    subcategory_key: str
    usd_cents: int
    quantity_low: int
    quantity_high: int


def categories() -> list[CatalogCategory]:
    """Parents first, so rows can be inserted in this order."""
    top = [CatalogCategory(f"demo-category-{i + 1:02d}", name, None) for i, (name, _) in enumerate(CATALOG)]
    subs = [
        CatalogCategory(f"demo-category-{i + 1:02d}-{j + 1:02d}", sub_name, f"demo-category-{i + 1:02d}")
        for i, (_, subcategories) in enumerate(CATALOG)
        for j, (sub_name, _) in enumerate(subcategories)
    ]
    return top + subs


def products() -> list[CatalogProduct]:
    return [
        CatalogProduct(
            key=f"demo-product-{i + 1:02d}{j + 1:02d}{k + 1:02d}",
            sku=f"DEMO-{i + 1:02d}{j + 1:02d}-{k + 1:02d}",
            name=name,
            category=category,
            subcategory=sub_name,
            subcategory_key=f"demo-category-{i + 1:02d}-{j + 1:02d}",
            usd_cents=round(price * 100),
            quantity_low=low,
            quantity_high=high,
        )
        for i, (category, subcategories) in enumerate(CATALOG)
        for j, (sub_name, items) in enumerate(subcategories)
        for k, (name, price, low, high) in enumerate(items)
    ]

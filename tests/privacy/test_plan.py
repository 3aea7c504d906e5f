"""Every table is declared in the erasure plan, and the declarations hold against the schema: a table
that can reference a profile is exported and erased, so a new one cannot be forgotten."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table

import crm_segments.models  # noqa: F401  (fills Base.metadata)
from crm_segments.db import Base
from crm_segments.privacy.plan import PLAN, TableRule

PROFILES = "crm_profiles"
# Columns that hold a person's address wherever they appear.
ADDRESS_COLUMNS = {"email", "phone", "to_address", "from_address"}
# The only exceptions, each with its reason.
NOT_A_PROFILE = {
    ("crm_users", "email"): "the product's own users sign in with it",
    ("crm_erasures", "profile_id"): "the audit keeps the id the erased profile had",
}


def owned_tables(metadata: MetaData, plan: dict[str, TableRule]) -> set[str]:
    """crm_profiles and every table with a foreign key (or a declared plain reference) to an owned table."""
    owned = {PROFILES}
    while True:
        more = {name for name, table in metadata.tables.items() if name not in owned and (
            any(fk.column.table.name in owned for fk in table.foreign_keys)
            or (name in plan and plan[name].references))}
        if not more:
            return owned
        owned |= more


def problems(metadata: MetaData, plan: dict[str, TableRule]) -> list[str]:
    """What is wrong with ``plan`` for ``metadata``; empty when every table is declared and handled."""
    found = [f"{name}: not declared in crm_segments/privacy/plan.py"
             for name in sorted(set(metadata.tables) - set(plan))]
    found += [f"{name}: declared but not a table" for name in sorted(set(plan) - set(metadata.tables))]
    owned = owned_tables(metadata, plan)
    for name, table in sorted(metadata.tables.items()):
        rule = plan.get(name)
        if rule is None:
            continue
        if rule.erase == "none" and name in owned:
            found.append(f"{name}: references a profile (or what belongs to one) but its rule is 'none'")
        if rule.erase != "none" and rule.rows is None:
            found.append(f"{name}: rule {rule.erase!r} without rows")
        if rule.erase == "cascade" and not rule.references and not any(
                fk.column.table.name in owned and fk.ondelete == "CASCADE" for fk in table.foreign_keys):
            found.append(f"{name}: 'cascade' but no foreign key to the profile's rows deletes it")
        for column in table.columns:
            plain_profile_id = column.name == "profile_id" and not column.foreign_keys
            if (name, column.name) in NOT_A_PROFILE:
                continue
            if plain_profile_id and column.name not in rule.references:
                found.append(f"{name}.{column.name}: a plain profile id not declared in references")
            if column.name in ADDRESS_COLUMNS and rule.erase == "none":
                found.append(f"{name}.{column.name}: an address in a table whose rule is 'none'")
        found += [f"{name}.{c}: declared reference is not a column"
                  for c in rule.references if c not in table.c]
        found += [f"{name}.{c}: scrubbed column is not a column" for c in rule.scrub if c not in table.c]
    return found


def test_every_table_is_declared_and_handled() -> None:
    assert problems(Base.metadata, PLAN) == []


def _copy() -> MetaData:
    metadata = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    return metadata


def test_a_new_table_with_a_profile_reference_fails_until_declared() -> None:
    metadata = _copy()
    Table("crm_call_notes", metadata, Column("id", Integer, primary_key=True),
          Column("profile_id", ForeignKey("crm_profiles.id", ondelete="CASCADE")))
    assert problems(metadata, PLAN) == ["crm_call_notes: not declared in crm_segments/privacy/plan.py"]
    assert problems(metadata, {**PLAN, "crm_call_notes": TableRule("none", "notes")}) == [
        "crm_call_notes: references a profile (or what belongs to one) but its rule is 'none'"]


def test_plain_references_and_addresses_are_caught() -> None:
    metadata = _copy()
    Table("crm_call_log", metadata, Column("id", Integer, primary_key=True), Column("profile_id", Integer),
          Column("phone", String(16)))
    found = problems(metadata, {**PLAN, "crm_call_log": TableRule("none", "calls")})
    assert found == ["crm_call_log.profile_id: a plain profile id not declared in references",
                     "crm_call_log.phone: an address in a table whose rule is 'none'"]
    # Through a record of the profile: a table hanging off quotes is the profile's too.
    Table("crm_quote_notes", metadata, Column("id", Integer, primary_key=True),
          Column("quote_id", ForeignKey("crm_quotes.id", ondelete="SET NULL")))
    notes = TableRule("cascade", "notes", rows=PLAN["crm_quotes"].rows)
    found = problems(metadata, {**PLAN, "crm_call_log": PLAN["crm_tag_events"], "crm_quote_notes": notes})
    assert "crm_quote_notes: 'cascade' but no foreign key to the profile's rows deletes it" in found

"""Tags, the taggings that attach them to profiles, quotes, jobs and opportunities, and tagging history.

Each entity type has its own tagging table (and suppression table) with real foreign keys, so
deleting an entity or a tag removes its taggings in the database and segment rules join one narrow
table. Every change of a tagging is written to ``crm_tag_events``. A bulk operation can be undone
exactly: the taggings it added carry its id, and the ones it removed are kept, as they were, in
``crm_bulk_operation_items``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, false, text
from sqlalchemy.orm import Mapped, declared_attr, foreign, mapped_column, relationship

from crm_segments.db import Base, UTCDateTime

from ._columns import choice, created_at_column, updated_at_column
from .schema_ddl import run_after_create_all
from .triggers import TAGGING_REFERENCE_TRIGGERS

# ``entity_type`` columns name "profile" or a taggable record type. Which types exist is the record type
# registry's business (record_types.py), checked by the services: no CHECK constraint, so registering a
# type changes no table here.
ENTITY_TYPE_LENGTH = 32
TAG_SOURCES = ("manual", "bulk", "rule", "import", "workflow", "api")
TAG_EVENT_SOURCES = (*TAG_SOURCES, "merge")
TAG_EVENT_ACTIONS = ("added", "removed")
BULK_ACTIONS = ("add", "remove")
BULK_SELECTIONS = ("ids", "filter", "segment", "csv")
AUTO_TAG_MODES = ("sticky", "live")
TAG_NAME_MAX = 64

# Audit and bulk-item tables grow by one row per changed tagging; 64-bit keys on PostgreSQL.
_BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements only INTEGER keys


def normalize_tag_name(name: str) -> str:
    """The key that makes tag names unique regardless of case and surrounding space."""
    return " ".join(name.split()).casefold()


class Tag(Base):
    __tablename__ = "crm_tags"
    # A person's tags created in the last minute are counted before they create more.
    __table_args__ = (Index("ix_crm_tags_created_by_at", "created_by_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(TAG_NAME_MAX))
    name_key: Mapped[str] = mapped_column(String(TAG_NAME_MAX), unique=True)
    color: Mapped[str] = mapped_column(String(7), default="#6b7280")
    description: Mapped[str] = mapped_column(String(500), default="")
    # Shipped with the product (the shipped auto-tag rules apply it): only admins change it.
    is_builtin: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("crm_users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = created_at_column()


class _EntityTagMixin:
    """An (entity, tag) pair with real foreign keys to both; the entity table is set per subclass."""

    __entity_table__: str
    __foreign_keys__ = True  # False: entity and tag are enforced by TAGGING_REFERENCE_TRIGGERS

    @declared_attr
    def entity_id(cls) -> Mapped[int]:  # noqa: N805
        if not cls.__foreign_keys__:
            return mapped_column(Integer, primary_key=True, autoincrement=False)
        return mapped_column(
            ForeignKey(f"{cls.__entity_table__}.id", ondelete="CASCADE"), primary_key=True
        )

    @declared_attr
    def tag_id(cls) -> Mapped[int]:  # noqa: N805
        if not cls.__foreign_keys__:
            return mapped_column(Integer, primary_key=True, autoincrement=False)
        return mapped_column(ForeignKey("crm_tags.id", ondelete="CASCADE"), primary_key=True)

    @declared_attr
    def rule_id(cls) -> Mapped[int | None]:  # noqa: N805
        # The auto-tag rule that added it (a live rule removes only its own). A plain id, not a
        # foreign key, for the same reason as bulk_operation_id; rule ids are never reused.
        return mapped_column(Integer)

    @declared_attr
    def bulk_operation_id(cls) -> Mapped[int | None]:  # noqa: N805
        # The bulk operation that added it: undo removes exactly these (not ones re-added since).
        # No foreign key: operations are never deleted, and PostgreSQL checks a foreign key row by
        # row, which would add a second per 100,000 profiles tagged in bulk.
        return mapped_column(Integer)


class _TaggingMixin(_EntityTagMixin):
    """Shape shared by every tagging table: (entity, tag) is unique; who and what added it."""

    @declared_attr
    def source(cls) -> Mapped[str]:  # noqa: N805
        return mapped_column(choice(*TAG_SOURCES, name="tag_source"), default="manual")

    @declared_attr
    def added_by_id(cls) -> Mapped[int | None]:  # noqa: N805
        return mapped_column(ForeignKey("crm_users.id", ondelete="SET NULL"))

    @declared_attr
    def added_at(cls) -> Mapped[dt.datetime]:  # noqa: N805
        return created_at_column()

    @declared_attr
    def tag(cls) -> Mapped[Tag]:  # noqa: N805
        if not cls.__foreign_keys__:
            tag_id: Any = cls.tag_id  # declared by the mixin
            return relationship(Tag, lazy="joined", primaryjoin=lambda: Tag.id == foreign(tag_id))
        return relationship(Tag, lazy="joined")

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index, ...]:  # noqa: N805
        name = cls.__tablename__  # type: ignore[attr-defined]
        only_bulk = text("bulk_operation_id IS NOT NULL")
        return (
            # The primary key serves lookups by entity; this one serves "who has tag X".
            Index(f"ix_{name}_tag_entity", "tag_id", "entity_id"),
            # Undo of a bulk operation finds its taggings; partial, so other taggings cost nothing.
            Index(f"ix_{name}_bulk_operation", "bulk_operation_id", postgresql_where=only_bulk,
                  sqlite_where=only_bulk),
        )


class ProfileTag(_TaggingMixin, Base):
    """``entity_id`` and ``tag_id`` reference ``crm_profiles.id`` and ``crm_tags.id`` through
    TAGGING_REFERENCE_TRIGGERS (models/triggers.py), not foreign keys: a foreign key checks and locks the
    referenced row for each row written, which for 100,000 profiles tagged in bulk dirtied and WAL-logged
    most pages of the profiles table (about a second at 1M profiles) and locked the same tag 100,000
    times."""

    __tablename__ = "crm_profile_tags"
    __entity_table__ = "crm_profiles"
    __foreign_keys__ = False


class QuoteTag(_TaggingMixin, Base):
    __tablename__ = "crm_quote_tags"
    __entity_table__ = "crm_quotes"


class JobTag(_TaggingMixin, Base):
    __tablename__ = "crm_job_tags"
    __entity_table__ = "crm_jobs"


class OpportunityTag(_TaggingMixin, Base):
    __tablename__ = "crm_opportunity_tags"
    __entity_table__ = "crm_opportunities"



class _SuppressionMixin(_EntityTagMixin):
    """A person removed an automatic tag by hand: no auto-tag rule puts that tag back on the entity
    until someone clears the suppression. ``rule_id`` is the rule that had added it."""

    @declared_attr
    def suppressed_by_id(cls) -> Mapped[int | None]:  # noqa: N805
        return mapped_column(ForeignKey("crm_users.id", ondelete="SET NULL"))

    @declared_attr
    def suppressed_at(cls) -> Mapped[dt.datetime]:  # noqa: N805
        return created_at_column()

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index, ...]:  # noqa: N805
        # Rules skip suppressed entities by tag: ``NOT EXISTS (... WHERE tag_id = :t AND entity_id = e)``.
        return (Index(f"ix_{cls.__tablename__}_tag_entity", "tag_id", "entity_id"),)  # type: ignore[attr-defined]


class ProfileTagSuppression(_SuppressionMixin, Base):
    __tablename__ = "crm_profile_tag_suppressions"
    __entity_table__ = "crm_profiles"


class QuoteTagSuppression(_SuppressionMixin, Base):
    __tablename__ = "crm_quote_tag_suppressions"
    __entity_table__ = "crm_quotes"


class JobTagSuppression(_SuppressionMixin, Base):
    __tablename__ = "crm_job_tag_suppressions"
    __entity_table__ = "crm_jobs"


class OpportunityTagSuppression(_SuppressionMixin, Base):
    __tablename__ = "crm_opportunity_tag_suppressions"
    __entity_table__ = "crm_opportunities"



class AutoTagRule(Base):
    """A condition in the segment rule language over one entity type and the tag it applies.

    *sticky* rules only add the tag; *live* rules also remove it (only where the rule added it) when
    the condition stops holding. Shipped rules have a ``key`` and keep their ``shipped_condition``.
    """

    __tablename__ = "crm_auto_tag_rules"
    __table_args__ = {"sqlite_autoincrement": True}  # ids never reused: taggings keep them

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str | None] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    entity_type: Mapped[str] = mapped_column(String(ENTITY_TYPE_LENGTH))
    condition: Mapped[dict[str, Any]] = mapped_column(JSON)
    tag_id: Mapped[int] = mapped_column(ForeignKey("crm_tags.id", ondelete="CASCADE"), index=True)
    mode: Mapped[str] = mapped_column(choice(*AUTO_TAG_MODES, name="auto_tag_mode"), default="sticky")
    enabled: Mapped[bool] = mapped_column(default=True)
    is_builtin: Mapped[bool] = mapped_column(default=False)
    shipped_condition: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Last run
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_matched: Mapped[int | None]
    last_added: Mapped[int | None]
    last_removed: Mapped[int | None]
    last_duration_ms: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("crm_users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = updated_at_column()

    tag: Mapped[Tag] = relationship(Tag, lazy="joined")


class BulkOperation(Base):
    """One bulk add or remove of tags over a selection; undone as one step."""

    __tablename__ = "crm_bulk_operations"
    __table_args__ = (  # ids never reused: taggings keep them
        Index("ix_crm_bulk_operations_created", "created_at"), {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(choice(*BULK_ACTIONS, name="bulk_action"))
    entity_type: Mapped[str] = mapped_column(String(ENTITY_TYPE_LENGTH))
    selection_kind: Mapped[str] = mapped_column(choice(*BULK_SELECTIONS, name="bulk_selection"))
    selection_description: Mapped[str] = mapped_column(String(500), default="")
    selection: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # filter values, segment id...
    tags: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # [{"id", "name", "changed"}]
    selected_count: Mapped[int] = mapped_column(default=0)
    changed_count: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("crm_users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = created_at_column()
    undone_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("crm_users.id", ondelete="SET NULL"))
    undone_count: Mapped[int | None]


class BulkOperationItem(Base):
    """A tagging a bulk removal took away, as it was, so undo can put it back exactly.

    (Taggings a bulk operation adds carry its id themselves, so they need no item.)
    """

    __tablename__ = "crm_bulk_operation_items"

    operation_id: Mapped[int] = mapped_column(
        ForeignKey("crm_bulk_operations.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("crm_tags.id", ondelete="CASCADE"), primary_key=True)
    entity_id: Mapped[int] = mapped_column(primary_key=True)
    prev_source: Mapped[str | None] = mapped_column(String(16))
    prev_added_by_id: Mapped[int | None] = mapped_column(ForeignKey("crm_users.id", ondelete="SET NULL"))
    prev_added_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    prev_rule_id: Mapped[int | None]
    prev_bulk_operation_id: Mapped[int | None]


class TagEvent(Base):
    """A tagging was added or removed: on what, which tag, by whom or by which rule or bulk operation.

    ``profile_id`` is the profile the entity belongs to (the profile itself for profile tags), so the
    profile page shows the history of the profile and its records, and deleting a profile deletes it
    (the one reference here, enforced set-based by TAGGING_REFERENCE_TRIGGERS). Tag, user, rule and
    operation are kept as plain ids (and the tag's name as it was): history outlives them, and audit
    rows are written 100,000 at a time, where PostgreSQL's row-by-row foreign key checks would cost
    more than the rows themselves.
    """

    __tablename__ = "crm_tag_events"
    __table_args__ = (
        Index("ix_crm_tag_events_profile_at", "profile_id", "occurred_at"),  # the profile's history
        Index("ix_crm_tag_events_tag_at", "tag_id", "occurred_at"),  # "tag added" workflow triggers
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(ENTITY_TYPE_LENGTH))
    entity_id: Mapped[int]
    profile_id: Mapped[int] = mapped_column(Integer)  # references crm_profiles: TAGGING_REFERENCE_TRIGGERS
    tag_id: Mapped[int]
    tag_name: Mapped[str] = mapped_column(String(TAG_NAME_MAX))  # as it was when the change happened
    action: Mapped[str] = mapped_column(choice(*TAG_EVENT_ACTIONS, name="tag_event_action"))
    source: Mapped[str] = mapped_column(choice(*TAG_EVENT_SOURCES, name="tag_event_source"))
    user_id: Mapped[int | None]
    rule_id: Mapped[int | None]
    bulk_operation_id: Mapped[int | None]
    occurred_at: Mapped[dt.datetime] = created_at_column()


run_after_create_all(TAGGING_REFERENCE_TRIGGERS)

"""Tag management: create, rename, recolor, describe, merge and delete tags; usage counts.

Merging and deleting touch every tagging of a tag, so both are set-based statements per entity
type, and both write the audit trail for every tagging they change. Renaming and merging rewrite
the rules and workflows that name the tag (tagging/renames.py); deleting a tag that something uses
is refused unless its users are detached (segments/deletion.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Integer, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session

from crm_segments.db import utcnow
from crm_segments.kernel.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from crm_segments.kernel.sql import execute_count
from crm_segments.models import AutoTagRule, Tag, User, Workflow
from crm_segments.models.record_types import tag_entity_types
from crm_segments.models.tags import normalize_tag_name
from crm_segments.records.entities import suppression_model, tagging_model
from crm_segments.schemas.tags import TagIn, TagPatch
from crm_segments.segments.deletion import check_deletable, deletion_reason, pause_workflows
from crm_segments.segments.usages import APPLIES_TAG, Use, tag_users

from .audit import Actor, events_insert
from .names import DEFAULT_TAGS_PER_MINUTE, check_creation_rate
from .renames import rename_references


@dataclass(frozen=True)
class TagSummary:
    tag: Tag
    counts: dict[str, int]  # taggings per entity type
    created_by: str | None
    rules: int  # auto-tag rules that apply it

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def get_tag(*, session: Session, tag_id: int, field: str = "tag_id") -> Tag:
    tag = session.get(Tag, tag_id)
    if tag is None:
        raise NotFound(f"{field}: no tag with id {tag_id}")
    return tag


def _check_name_free(session: Session, name: str, tag_id: int | None) -> None:
    other = session.scalar(select(Tag).where(Tag.name_key == normalize_tag_name(name)))
    if other is not None and other.id != tag_id:
        raise Conflict("name", f"a tag named {other.name!r} already exists; merge the tags instead")


def create_tag(
    *, session: Session, data: TagIn, user_id: int | None = None,
    per_minute: int | None = DEFAULT_TAGS_PER_MINUTE,
) -> Tag:
    """A new tag; Conflict (field ``name``) when one with that name in any case exists, RateLimited
    when the user has created ``per_minute`` tags in the last minute."""
    _check_name_free(session, data.name, None)
    check_creation_rate(session=session, user_id=user_id, new=1, per_minute=per_minute)
    tag = Tag(name=data.name, name_key=normalize_tag_name(data.name), color=data.color,
              description=data.description, created_by_id=user_id)
    session.add(tag)
    session.flush()
    return tag


def update_tag(*, session: Session, tag_id: int, data: TagPatch, by_admin: bool = False) -> Tag:
    """Rename, recolor and/or describe a tag (fields left None are kept).

    A built-in tag (shipped with the product) is changed only ``by_admin`` (Forbidden otherwise). A
    new name is written into every rule and workflow that names the tag, in the same transaction.
    """
    tag = get_tag(session=session, tag_id=tag_id)
    if tag.is_builtin and not by_admin:
        raise Forbidden(f"{tag.name!r} is a built-in tag: only an admin can change it")
    if data.name is not None:
        _check_name_free(session, data.name, tag.id)
        if data.name != tag.name:
            rename_references(session, {tag.name_key: data.name})
        tag.name, tag.name_key = data.name, normalize_tag_name(data.name)
    tag.color = data.color if data.color is not None else tag.color
    tag.description = data.description if data.description is not None else tag.description
    session.flush()
    return tag


def tag_usage(*, session: Session, tag_id: int) -> dict[str, int]:
    """How many profiles, quotes, jobs and opportunities carry the tag."""
    usage: dict[str, int] = {}
    for entity_type in tag_entity_types():
        model = tagging_model(entity_type)
        usage[entity_type] = int(session.scalar(select(func.count()).where(model.tag_id == tag_id)) or 0)
    return usage


def list_tags(*, session: Session) -> list[TagSummary]:
    """Every tag by name, with usage counts per entity type, who created it and its rules."""
    counts: dict[int, dict[str, int]] = {}
    for entity_type in tag_entity_types():
        model = tagging_model(entity_type)
        for tag_id, n in session.execute(select(model.tag_id, func.count()).group_by(model.tag_id)):
            counts.setdefault(tag_id, {})[entity_type] = n
    rules = dict(session.execute(select(AutoTagRule.tag_id, func.count()).group_by(AutoTagRule.tag_id)).all())
    query = (select(Tag, func.coalesce(func.nullif(User.name, ""), User.email))
             .outerjoin(User, User.id == Tag.created_by_id).order_by(Tag.name_key))
    return [
        TagSummary(tag, {t: counts.get(tag.id, {}).get(t, 0) for t in tag_entity_types()}, creator,
                   int(rules.get(tag.id, 0)))
        for tag, creator in session.execute(query)
    ]


@dataclass(frozen=True)
class MergeResult:
    target: Tag
    merged_names: list[str]
    moved: dict[str, int] = field(default_factory=dict)  # new taggings of the target, per entity type
    already_tagged: dict[str, int] = field(default_factory=dict)  # entities that had the target too


def merge_tags(
    *, session: Session, source_ids: Sequence[int], target_id: int, user_id: int | None = None,
    now: dt.datetime | None = None,
) -> MergeResult:
    """Move every tagging (and suppression and rule) of the source tags to the target, then delete them.

    An entity that has the target already, or several of the sources, ends up with one tagging of
    the target (its earliest). Every source tagging gets a "removed" event and every new target
    tagging an "added" event, with source ``merge``. Workflows triggered by a source tag are
    triggered by the target, and rules and workflows naming a source name the target.
    """
    now = now or utcnow()
    target = get_tag(session=session, tag_id=target_id, field="target_id")
    sources = _merge_sources(session, source_ids, target.id)
    source_id_list = [s.id for s in sources]
    actor = Actor("merge", user_id=user_id)
    result = MergeResult(target, [s.name for s in sources])
    for entity_type in tag_entity_types():
        model = tagging_model(entity_type)
        of_sources = model.tag_id.in_(source_id_list)
        total = int(session.scalar(select(func.count()).select_from(model).where(of_sources)) or 0)
        if not total:
            continue
        session.execute(events_insert(select(model.entity_id, model.tag_id).where(of_sources).subquery(),
                                      entity_type=entity_type, action="removed", actor=actor, now=now))
        moved = _move_taggings(session, entity_type, source_id_list, target, actor, now)
        result.moved[entity_type] = moved
        result.already_tagged[entity_type] = int(session.scalar(
            select(func.count(func.distinct(model.entity_id))).where(of_sources)) or 0) - moved
        _move_suppressions(session, entity_type, source_id_list, target.id)
    session.execute(update(AutoTagRule).where(AutoTagRule.tag_id.in_(source_id_list))
                    .values(tag_id=target.id).execution_options(synchronize_session=False))
    session.execute(update(Workflow).where(Workflow.trigger_tag_id.in_(source_id_list))
                    .values(trigger_tag_id=target.id).execution_options(synchronize_session=False))
    rename_references(session, {s.name_key: target.name for s in sources})
    session.execute(delete(Tag).where(Tag.id.in_(source_id_list)))
    session.expire_all()
    return result


def _merge_sources(session: Session, source_ids: Sequence[int], target_id: int) -> list[Tag]:
    ids = list(dict.fromkeys(source_ids))
    if not ids:
        raise ValidationFailed([FieldError("source_ids", "give at least one tag to merge")])
    if target_id in ids:
        raise ValidationFailed([FieldError("source_ids", "cannot merge a tag into itself")])
    sources = list(session.scalars(select(Tag).where(Tag.id.in_(ids))))
    missing = sorted(set(ids) - {s.id for s in sources})
    if missing:
        raise NotFound(f"source_ids: no tag with id {', '.join(map(str, missing))}")
    return sources


def _move_taggings(session: Session, entity_type: str, source_ids: list[int], target: Tag, actor: Actor,
                   now: dt.datetime) -> int:
    model = tagging_model(entity_type)
    has_target = select(model.entity_id).where(model.tag_id == target.id).scalar_subquery()
    ranked = select(
        model.entity_id, model.source, model.added_by_id, model.added_at, model.rule_id,
        func.row_number().over(partition_by=model.entity_id,
                               order_by=(model.added_at, model.tag_id)).label("rank"),
    ).where(model.tag_id.in_(source_ids), model.entity_id.not_in(has_target)).subquery()
    first = select(ranked.c.entity_id, literal(target.id, Integer()).label("tag_id"), ranked.c.source,
                   ranked.c.added_by_id, ranked.c.added_at, ranked.c.rule_id).where(ranked.c.rank == 1)
    session.execute(events_insert(first.subquery(), entity_type=entity_type, action="added", actor=actor,
                                  now=now))
    return execute_count(session, insert(model.__table__).from_select(
        ["entity_id", "tag_id", "source", "added_by_id", "added_at", "rule_id"], first))


def _move_suppressions(session: Session, entity_type: str, source_ids: list[int], target_id: int) -> None:
    model = suppression_model(entity_type)
    suppressed = select(model.entity_id).where(model.tag_id == target_id).scalar_subquery()
    ranked = select(
        model.entity_id, model.rule_id, model.suppressed_by_id, model.suppressed_at,
        func.row_number().over(partition_by=model.entity_id, order_by=model.tag_id).label("rank"),
    ).where(model.tag_id.in_(source_ids), model.entity_id.not_in(suppressed)).subquery()
    session.execute(insert(model.__table__).from_select(
        ["entity_id", "tag_id", "rule_id", "suppressed_by_id", "suppressed_at"],
        select(ranked.c.entity_id, literal(target_id, Integer()), ranked.c.rule_id,
               ranked.c.suppressed_by_id, ranked.c.suppressed_at).where(ranked.c.rank == 1),
    ))


@dataclass(frozen=True)
class DeletePreview:
    tag: Tag
    counts: dict[str, int]
    uses: list[Use]  # workflows, segments and auto-tag rules that use it

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def rules(self) -> list[str]:
        """Names of the auto-tag rules that apply it: deleted with it when detached."""
        return list(dict.fromkeys(u.name for u in self.uses if u.where == APPLIES_TAG))


def delete_preview(*, session: Session, tag_id: int) -> DeletePreview:
    """What deleting the tag removes and who uses it, for the page the UI asks on."""
    tag = get_tag(session=session, tag_id=tag_id)
    return DeletePreview(tag, tag_usage(session=session, tag_id=tag.id), tag_users(session, tag))


@dataclass(frozen=True)
class TagDeletion:
    removed: int  # taggings removed
    paused: list[Workflow]  # workflows paused because they used the tag


def delete_tag(
    *, session: Session, tag_id: int, user_id: int | None = None, source: str = "manual",
    now: dt.datetime | None = None, on_use: str = "refuse",
) -> TagDeletion:
    """Delete the tag, its taggings (each audited as removed) and the auto-tag rules that apply it.

    When something uses the tag, InUse is raised and nothing changes, unless ``on_use`` is
    "detach": then the workflows that use it are paused with the reason. A segment or auto-tag rule
    whose condition names it always refuses (segments/deletion.py says why).
    """
    now = now or utcnow()
    tag = get_tag(session=session, tag_id=tag_id)
    what = f"tag {tag.name!r}"
    uses = tag_users(session, tag)
    check_deletable(what, uses, on_use)
    paused = pause_workflows(session, uses, reason=deletion_reason(session, what, user_id=user_id, now=now))
    actor = Actor(source, user_id=user_id)
    removed = 0
    for entity_type in tag_entity_types():
        model = tagging_model(entity_type)
        removed += execute_count(session, events_insert(
            select(model.entity_id, model.tag_id).where(model.tag_id == tag.id).subquery(),
            entity_type=entity_type, action="removed", actor=actor, now=now))
    session.execute(delete(Tag).where(Tag.id == tag.id))
    session.expire_all()
    return TagDeletion(removed, paused)



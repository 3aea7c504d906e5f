"""Tagging endpoints: tags (CRUD, merge), the taggings of each entity, bulk operations (by ids, by
profile or record filter, by segment) and their undo, auto-tag rules (CRUD, dry run, run now).

Every API key may read and tag; merging and deleting tags, changing built-in tags and changing rules
need an admin's key, and a bulk operation is undone by its author or an admin. A person creates at most
CRM_SEGMENTS_TAGS_PER_USER_PER_MINUTE new tags a minute (429 with Retry-After past it).
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, g, jsonify, request

from crm_segments.kernel.errors import FieldError, NotFound, ValidationFailed
from crm_segments.models import AutoTagRule, BulkOperation, Tag
from crm_segments.models.record_types import entity_plural, tag_entity_types
from crm_segments.records.entities import entity_profile_id, entity_tags
from crm_segments.records.validation import validate
from crm_segments.schemas.auto_tag_rules import AutoTagRuleIn, AutoTagRulePatch
from crm_segments.schemas.tags import TagIn, TagPatch
from crm_segments.segments.deletion import InUse
from crm_segments.selection import targets as selection
from crm_segments.state import get_state
from crm_segments.tagging import auto, bulk, management, manual, rules, suppressions
from crm_segments.tagging.names import existing_tags, get_or_create_tags
from crm_segments.web.db import db_session

from .auth import forbidden_unless_admin_for, is_admin
from .routes import ADMIN_ONLY, Route, json_body
from .tag_schemas import (
    BulkIn,
    BulkOperationOut,
    BulkOperationPage,
    DeletedTag,
    EntityTags,
    MergeIn,
    MergeOut,
    OperationListParams,
    RecordFilterIn,
    RuleList,
    RuleOut,
    RunOut,
    TagChangeOut,
    TagCounts,
    TaggingIn,
    TagList,
    TagOut,
)
from .usage_schemas import OnUseParams, in_use_response

TAG = "tags"
Reply = Response | tuple[Response, int]


def _user_id() -> int:
    return int(g.crm_api_user.id)


def _per_minute() -> int | None:
    return get_state(current_app).settings.tags_per_user_per_minute


def _reply(data: dict[str, Any], status: int = 200) -> tuple[Response, int]:
    return jsonify(data), status


def tag_out(tag: Tag, counts: dict[str, int] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = TagOut.model_validate(
        {**{k: getattr(tag, k) for k in ("id", "name", "color", "description", "is_builtin",
                                          "created_by_id", "created_at")},
         "counts": TagCounts(**counts) if counts is not None else None}).model_dump(mode="json")
    return data


# Tags

def list_tags() -> Response:
    summaries = management.list_tags(session=db_session())
    return jsonify(items=[tag_out(s.tag, s.counts) for s in summaries])


def create_tag() -> tuple[Response, int]:
    tag = management.create_tag(session=db_session(), data=validate(TagIn, json_body()), user_id=_user_id(),
                                per_minute=_per_minute())
    return _reply(tag_out(tag), 201)


def get_tag(id: int) -> Response:
    tag = management.get_tag(session=db_session(), tag_id=id, field="id")
    return jsonify(tag_out(tag, management.tag_usage(session=db_session(), tag_id=tag.id)))


def update_tag(id: int) -> tuple[Response, int]:
    tag = management.update_tag(session=db_session(), tag_id=id, data=validate(TagPatch, json_body()),
                                by_admin=is_admin())
    return _reply(tag_out(tag))


def delete_tag(id: int) -> tuple[Response, int]:
    params = validate(OnUseParams, request.args.to_dict())
    try:
        deleted = management.delete_tag(session=db_session(), tag_id=id, user_id=_user_id(), source="api",
                                        on_use=params.on_use)
    except InUse as exc:
        return in_use_response(exc)
    return _reply(DeletedTag(removed=deleted.removed,
                                 paused_workflow_ids=[w.id for w in deleted.paused]).model_dump())


def merge_tags() -> tuple[Response, int]:
    body = validate(MergeIn, json_body())
    result = management.merge_tags(session=db_session(), source_ids=body.source_ids,
                                   target_id=body.target_id, user_id=_user_id())
    data = MergeOut(target=TagOut.model_validate(tag_out(result.target)), merged=result.merged_names,
                    moved=result.moved, already_tagged=result.already_tagged)
    return _reply(data.model_dump(mode="json"))


# Taggings of one entity

def _entity_tags(entity_type: str, entity_id: int) -> dict[str, Any]:
    session = db_session()
    kind, key = entity_type, entity_id
    entity_profile_id(session=session, entity_type=kind, entity_id=key)  # NotFound (404) if missing
    taggings = entity_tags(session=session, entity_type=kind, entity_id=key)
    suppressed = suppressions.entity_suppressions(session=session, entity_type=kind, entity_id=key)
    return EntityTags.model_validate({
        "items": [{"tag": tag_out(t.tag), "source": t.source, "added_by_id": t.added_by_id,
                   "added_at": t.added_at, "rule_id": t.rule_id} for t in taggings],
        "suppressed": [tag_out(t) for t in suppressed],
    }).model_dump(mode="json")


def _entity_type(entities: str) -> str:
    """The tag entity type named by its plural in the path, read from the registry; 404 otherwise."""
    found = next((t for t in tag_entity_types() if entity_plural(t) == entities), None)
    if found is None:
        known = ", ".join(map(entity_plural, tag_entity_types()))
        raise NotFound(f"no taggable {entities}: use one of {known}")
    return found


def entity_routes() -> list[Route]:
    """Tags of a profile or of a record of any taggable type (``/quotes/7/tags``)."""
    base = "/<entities>/<int:id>"

    def list_taggings(entities: str, id: int) -> Response:
        return jsonify(_entity_tags(_entity_type(entities), id))

    def add(entities: str, id: int) -> tuple[Response, int]:
        entity_type = _entity_type(entities)
        body = validate(TaggingIn, json_body())
        change = manual.add_tag(session=db_session(), entity_type=entity_type, entity_id=id,
                                tag_name=body.name, tag_id=body.tag_id, user_id=_user_id(), source="api",
                                per_minute=_per_minute())
        data = TagChangeOut(changed=change.changed, tag=TagOut.model_validate(tag_out(change.tag)))
        return _reply(data.model_dump(mode="json"), 201 if change.changed else 200)

    def remove(entities: str, id: int, tag_id: int) -> tuple[Response, int]:
        change = manual.remove_tag(session=db_session(), entity_type=_entity_type(entities), entity_id=id,
                                   tag_id=tag_id, user_id=_user_id(), source="api")
        data = TagChangeOut(changed=change.changed, tag=TagOut.model_validate(tag_out(change.tag)),
                            suppressed=change.suppressed)
        return _reply(data.model_dump(mode="json"))

    def clear(entities: str, id: int, tag_id: int) -> tuple[Response, int]:
        suppressions.clear_suppression(session=db_session(), entity_type=_entity_type(entities), entity_id=id,
                                       tag_id=tag_id)
        return Response(status=204), 204

    entity = "profile or record (entities: profiles, quotes, jobs, opportunities or another taggable type)"
    return [
        Route(f"{base}/tags", "GET", "entity_tags", list_taggings, f"The tags of a {entity}", TAG,
              out=EntityTags, errors=(401, 404)),
        Route(f"{base}/tags", "POST", "entity_tags_add", add,
              f"Tag a {entity} (201), or 200 when it already has the tag", TAG, body=TaggingIn,
              ok=(200, 201), out=TagChangeOut, errors=(400, 401, 404, 422, 429)),
        Route(f"{base}/tags/<int:tag_id>", "DELETE", "entity_tags_remove", remove,
              f"Untag a {entity}; an automatic tag removed this way stays off (suppressed)", TAG,
              out=TagChangeOut, errors=(401, 404)),
        Route(f"{base}/suppressions/<int:tag_id>", "DELETE", "entity_suppressions_clear", clear,
              f"Let auto-tag rules tag this {entity} again", TAG, ok=(204,), errors=(401, 404)),
    ]


# Bulk operations

def op_out(op: BulkOperation) -> dict[str, Any]:
    data: dict[str, Any] = BulkOperationOut.model_validate(op).model_dump(mode="json")
    return data


def _bulk_selection(body: BulkIn) -> selection.Selection:
    kinds = ("ids", "filter", "record_filter", "segment_id")
    given = [name for name in kinds if getattr(body, name) is not None]
    if len(given) != 1:
        raise ValidationFailed([FieldError(
            "selection", "give exactly one of ids, filter, record_filter or segment_id")])
    if body.ids is not None:
        return selection.by_ids(session=db_session(), entity_type=body.entity_type, ids=body.ids)
    if body.record_filter is not None:
        return _record_filter_selection(body.entity_type, body.record_filter)
    if body.entity_type != "profile":
        raise ValidationFailed([FieldError("entity_type", "filter and segment_id select profiles; "
                                                          "use record_filter for records")])
    if body.filter is not None:
        chosen = body.filter
        return selection.by_filter(q=chosen.q, region=chosen.region, lifecycle=chosen.lifecycle,
                                   tag=chosen.tag, segment=chosen.segment)
    return selection.by_segment(session=db_session(), segment_id=body.segment_id)


def _record_filter_selection(entity_type: str, chosen: RecordFilterIn) -> selection.Selection:
    if entity_type == "profile":
        raise ValidationFailed([FieldError("entity_type", "a record_filter selects quotes, jobs or "
                                                          "opportunities; use filter for profiles")])
    status_key, other = ("stage", "status") if entity_type == "opportunity" else ("status", "stage")
    if getattr(chosen, other) is not None:
        raise ValidationFailed([FieldError(f"record_filter.{other}",
                                           f"{entity_type} records have a {status_key}, not a {other}")])
    return selection.by_record_filter(
        entity_type, q=chosen.q, status=getattr(chosen, status_key), date_from=chosen.date_from,
        date_to=chosen.date_to, amount_min=chosen.amount_min, amount_max=chosen.amount_max, tag=chosen.tag,
        prefix="record_filter.")


def _bulk_tags(body: BulkIn) -> list[Tag]:
    per_request = get_state(current_app).settings.tags_per_request
    if body.action == "add":
        return get_or_create_tags(session=db_session(), names=list(body.tags), created_by_id=_user_id(),
                                  per_minute=_per_minute(), per_request=per_request)
    return existing_tags(session=db_session(), names=list(body.tags), per_request=per_request)


def create_operation() -> tuple[Response, int]:
    body = validate(BulkIn, json_body())
    chosen = _bulk_selection(body)
    result = bulk.bulk_tag(session=db_session(), action=body.action, selection=chosen, tags=_bulk_tags(body),
                           user_id=_user_id())
    return _reply(op_out(result.operation), 201)


def list_operations() -> Response:
    params = validate(OperationListParams, request.args.to_dict())
    found = bulk.list_operations(session=db_session(), limit=params.limit + 1, before=params.before)
    page = found[:params.limit]
    return jsonify(items=[op_out(o) for o in page],
                   next_before=page[-1].id if len(found) > params.limit else None)


def _operation(id: int) -> BulkOperation:
    op = db_session().get(BulkOperation, id)
    if op is None:
        raise NotFound(f"id: no bulk operation with id {id}")
    return op


def get_operation(id: int) -> Response:
    return jsonify(op_out(_operation(id)))


def undo_operation(id: int) -> Reply:
    op = _operation(id)
    if op.created_by_id != _user_id() and (
            denied := forbidden_unless_admin_for("undoing another's operation")):
        return denied
    result = bulk.undo_bulk_operation(session=db_session(), operation_id=op.id, user_id=_user_id())
    return _reply(op_out(result.operation))


# Auto-tag rules

def rule_out(rule: AutoTagRule) -> dict[str, Any]:
    columns = {c.key: getattr(rule, c.key) for c in AutoTagRule.__table__.columns}
    out = RuleOut.model_validate({**columns, "tag_name": rule.tag.name})
    data: dict[str, Any] = out.model_dump(mode="json")
    return data


def list_rules() -> Response:
    return jsonify(items=[rule_out(r) for r in rules.list_rules(session=db_session())])


def create_rule() -> Reply:
    rule = rules.create_rule(session=db_session(), data=validate(AutoTagRuleIn, json_body()),
                             user_id=_user_id(), per_minute=_per_minute())
    return _reply(rule_out(rule), 201)


def get_rule(id: int) -> Response:
    return jsonify(rule_out(rules.get_rule(session=db_session(), rule_id=id)))


def update_rule(id: int) -> Reply:
    rule = rules.update_rule(session=db_session(), rule_id=id, data=validate(AutoTagRulePatch, json_body()),
                             user_id=_user_id(), per_minute=_per_minute())
    return _reply(rule_out(rule))


def delete_rule(id: int) -> Reply:
    rules.delete_rule(session=db_session(), rule_id=id)
    return Response(status=204), 204


def _run_out(result: auto.RunResult) -> dict[str, Any]:
    return RunOut(rule_id=result.rule_id, matched=result.matched, added=result.added, removed=result.removed,
                  duration_ms=result.duration_ms, dry_run=result.dry_run).model_dump()


def dry_run_rule(id: int) -> Response:
    return jsonify(_run_out(auto.dry_run(session=db_session(), rule_id=id)))


def run_rule(id: int) -> Reply:
    return _reply(_run_out(auto.run_rule_now(session=db_session(), rule_id=id)))


def tag_routes() -> list[Route]:
    tag_one, op_one, rule_one = "/tags/<int:id>", "/bulk-tag-operations/<int:id>", "/auto-tag-rules/<int:id>"
    write = (400, 401, 403, 404, 409, 422, 429)
    return [
        Route("/tags", "GET", "tags_list", list_tags, "List tags with their usage per entity type", TAG,
              out=TagList, errors=(401,)),
        Route("/tags", "POST", "tags_create", create_tag, "Create a tag", TAG, body=TagIn, ok=(201,),
              out=TagOut, errors=(400, 401, 409, 422, 429)),
        Route("/tags/merge", "POST", "tags_merge", merge_tags,
              "Merge tags into one (taggings move without duplicates); admins", TAG, body=MergeIn,
              out=MergeOut, errors=(400, 401, 403, 404, 422), roles=ADMIN_ONLY),
        Route(tag_one, "GET", "tags_get", get_tag, "Get a tag with its usage", TAG, out=TagOut,
              errors=(401, 404)),
        Route(tag_one, "PATCH", "tags_update", update_tag,
              "Rename, recolour or describe a tag; a built-in tag needs an admin's key", TAG,
              body=TagPatch, out=TagOut, errors=(400, 401, 403, 404, 409, 422)),
        Route(tag_one, "DELETE", "tags_delete", delete_tag,
              "Delete a tag and its taggings (GET it first for the count); admins. 409 lists what uses it "
              "unless on_use=detach, which pauses the workflows that use it", TAG, query=(OnUseParams,),
              out=DeletedTag, errors=(401, 403, 404, 409, 422), roles=ADMIN_ONLY),
        *entity_routes(),
        Route("/bulk-tag-operations", "GET", "bulk_tag_operations_list", list_operations,
              "List bulk tag operations, newest first", TAG, query=(OperationListParams,),
              out=BulkOperationPage, errors=(401, 422)),
        Route("/bulk-tag-operations", "POST", "bulk_tag_operations_create", create_operation,
              "Add or remove tags on ids, the profiles matching a filter, the quotes, jobs or opportunities "
              "matching a record_filter, or a segment's members", TAG,
              body=BulkIn, ok=(201,), out=BulkOperationOut, errors=(400, 401, 404, 422, 429)),
        Route(op_one, "GET", "bulk_tag_operations_get", get_operation, "Get a bulk tag operation", TAG,
              out=BulkOperationOut, errors=(401, 404)),
        Route(f"{op_one}/undo", "POST", "bulk_tag_operations_undo", undo_operation,
              "Undo a bulk tag operation exactly, once (409 the second time)", TAG, out=BulkOperationOut,
              errors=(401, 403, 404, 409)),
        Route("/auto-tag-rules", "GET", "auto_tag_rules_list", list_rules, "List auto-tag rules", TAG,
              out=RuleList, errors=(401,)),
        Route("/auto-tag-rules", "POST", "auto_tag_rules_create", create_rule,
              "Create an auto-tag rule; admins", TAG, body=AutoTagRuleIn, ok=(201,), out=RuleOut,
              errors=write, roles=ADMIN_ONLY),
        Route(rule_one, "GET", "auto_tag_rules_get", get_rule, "Get an auto-tag rule", TAG, out=RuleOut,
              errors=(401, 404)),
        Route(rule_one, "PATCH", "auto_tag_rules_update", update_rule,
              "Change an auto-tag rule; admins", TAG, body=AutoTagRulePatch, out=RuleOut, errors=write,
              roles=ADMIN_ONLY),
        Route(rule_one, "DELETE", "auto_tag_rules_delete", delete_rule,
              "Delete an auto-tag rule (its tags stay); admins", TAG, ok=(204,), errors=(401, 403, 404),
              roles=ADMIN_ONLY),
        Route(f"{rule_one}/dry-run", "POST", "auto_tag_rules_dry_run", dry_run_rule,
              "How many match, and would gain or lose the tag; changes nothing", TAG, out=RunOut,
              errors=(401, 404)),
        Route(f"{rule_one}/run", "POST", "auto_tag_rules_run", run_rule, "Run an auto-tag rule now; admins",
              TAG, out=RunOut, errors=(401, 403, 404), roles=ADMIN_ONLY),
    ]

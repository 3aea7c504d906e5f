"""Segment endpoints: CRUD, preview, members (paginated; static lists also changed), refresh, events,
overlap and reset of a built-in. Every API key may read, preview rules and refresh; creating,
changing, deleting segments, previewing SQL and editing static lists need an admin's key."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, g, jsonify, request
from sqlalchemy.exc import DBAPIError

from crm_segments.db import utcnow
from crm_segments.kernel.errors import FieldError, ValidationFailed
from crm_segments.models import Profile, Segment
from crm_segments.records.validation import validate
from crm_segments.schemas.segments import SegmentIn, SegmentPatch
from crm_segments.segments import members, preview, reports, service, static_lists
from crm_segments.segments.deletion import InUse
from crm_segments.segments.prebuilt import reset_to_shipped
from crm_segments.segments.refresh import run_refresh
from crm_segments.state import get_state
from crm_segments.web.db import db_session, reads_only

from .auth import forbidden_unless_admin_for
from .routes import ADMIN_ONLY, Route, json_body
from .segment_schemas import (
    EventOut,
    EventPage,
    EventParams,
    MemberOut,
    MemberPage,
    MemberParams,
    MembersChangeIn,
    MembersChangeOut,
    OverlapOut,
    PreviewIn,
    PreviewOut,
    ProfileBrief,
    RefreshOut,
    SegmentList,
    SegmentOut,
)
from .usage_schemas import OnUseParams, in_use_response

TAG = "segments"
ONE = "/segments/<int:id>"
Reply = Response | tuple[Response, int]


def serialize(segment: Segment, names: dict[int | str, str] | None = None) -> dict[str, Any]:
    columns = {c.key: getattr(segment, c.key) for c in Segment.__table__.columns}
    names = names if names is not None else service.segment_names(db_session())
    data: dict[str, Any] = SegmentOut.model_validate(
        {**columns, "rule_text": service.rule_text(segment, names)}).model_dump(mode="json")
    return data


def _brief(profile: Profile) -> dict[str, Any]:
    return {"id": profile.id, "external_id": profile.external_id, "name": profile.full_name,
            "email": profile.email}


def _reply(data: dict[str, Any], status: int = 200) -> tuple[Response, int]:
    return jsonify(data), status


def list_segments() -> Response:
    session = db_session()
    names = service.segment_names(session)
    out = SegmentList.model_validate({"items": [serialize(s, names) for s in service.list_segments(session)]})
    return jsonify(out.model_dump(mode="json"))


def create_segment() -> Reply:
    body = validate(SegmentIn, json_body())
    segment = service.create_segment(db_session(), data=body, actor_id=int(g.crm_api_user.id))
    return _reply(serialize(segment), 201)


def get_segment(id: int) -> Response:
    return jsonify(serialize(service.get_segment(db_session(), id)))


def update_segment(id: int) -> Reply:
    body = validate(SegmentPatch, json_body())
    segment = service.get_segment(db_session(), id)
    service.update_segment(db_session(), segment, data=body)
    return _reply(serialize(segment))


def delete_segment(id: int) -> Reply:
    params = validate(OnUseParams, request.args.to_dict())
    segment = service.get_segment(db_session(), id)
    try:
        service.delete_segment(db_session(), segment, on_use=params.on_use, user_id=g.crm_api_user.id)
    except InUse as exc:
        return in_use_response(exc)
    return Response(status=204), 204


def reset_segment(id: int) -> Reply:
    segment = service.get_segment(db_session(), id)
    reset_to_shipped(segment)
    return _reply(serialize(segment))


@reads_only
def preview_segment() -> Reply:
    body = validate(PreviewIn, json_body())
    session = db_session()
    if (body.rule is None) == (body.query_sql is None):
        raise ValidationFailed([FieldError("rule", "give either a rule or a query_sql")])
    if body.query_sql is not None:
        if denied := forbidden_unless_admin_for("previewing a database query"):
            return denied
        result = preview.preview_query(session, body.query_sql, sample_size=body.sample_size)
    else:
        try:
            result = preview.preview_rule(session, body.rule, now=utcnow(), sample_size=body.sample_size)
        except (DBAPIError, OverflowError) as exc:
            # A rule the validator let through but the store cannot run: name the error class, not
            # the database's text (it can quote data the query read).
            cause = type(getattr(exc, "orig", None) or exc).__name__
            raise ValidationFailed([FieldError("rule", f"the rule cannot run on this database ({cause})")]) \
                from None
    out = PreviewOut(count=result.count, email_reachable=result.email_reachable,
                     sms_reachable=result.sms_reachable,
                     sample=[ProfileBrief.model_validate(_brief(p)) for p in result.sample])
    return jsonify(out.model_dump(mode="json"))


def list_members(id: int) -> Response:
    params = validate(MemberParams, request.args.to_dict())
    session = db_session()
    service.get_segment(session, id)
    page = members.members_page(session, id, q=params.q, after=params.after, limit=params.limit)
    out = MemberPage(items=[MemberOut.model_validate({**_brief(r.profile), "entered_at": r.entered_at})
                            for r in page.items], next_after=page.next_after)
    return jsonify(out.model_dump(mode="json"))


def change_members(id: int) -> Reply:
    body = validate(MembersChangeIn, json_body())
    session = db_session()
    segment = service.get_segment(session, id)
    diff = static_lists.change_by_ids(session, segment, body.profile_ids, action=body.action, now=utcnow(),
                                      source="api", actor_id=int(g.crm_api_user.id))
    out = MembersChangeOut(entered=diff.entered, exited=diff.exited, member_count=segment.member_count)
    return _reply(out.model_dump())


def refresh_segment(id: int) -> Reply:
    service.get_segment(db_session(), id)
    db_session().rollback()  # the refresh runs in its own transaction
    result = run_refresh(get_state(current_app).session_factory, id, now=utcnow())
    out = RefreshOut(segment_id=id, ok=result.ok, size=result.size, entered=result.entered,
                     exited=result.exited, duration_ms=result.duration_ms, error=result.error)
    return jsonify(out.model_dump())


def list_events(id: int) -> Response:
    params = validate(EventParams, request.args.to_dict())
    service.get_segment(db_session(), id)
    page = reports.events_page(db_session(), id, kind=params.kind, before=params.before, limit=params.limit)
    out = EventPage(items=[EventOut.model_validate(e.__dict__) for e in page.items],
                    next_before=page.next_before)
    return jsonify(out.model_dump(mode="json"))


def get_overlap(id: int, other_id: int) -> Response:
    session = db_session()
    service.get_segment(session, id)
    service.get_segment(session, other_id)
    result = reports.overlap(session, id, other_id)
    return jsonify(OverlapOut(a_only=result.a_only, b_only=result.b_only, both=result.both,
                              union=result.union).model_dump())


def segment_routes() -> list[Route]:
    return [
        Route("/segments", "GET", "segments_list", list_segments, "List segments", TAG, out=SegmentList),
        Route("/segments", "POST", "segments_create", create_segment, "Create a segment (admin)", TAG,
              body=SegmentIn, ok=(201,), out=SegmentOut, errors=(400, 401, 403, 409, 422), roles=ADMIN_ONLY),
        Route("/segments/preview", "POST", "segments_preview", preview_segment,
              "Count, sample and reachability of an unsaved rule (or, for admins, query)", TAG,
              body=PreviewIn, out=PreviewOut, errors=(400, 401, 403, 422)),
        Route(ONE, "GET", "segments_get", get_segment, "Get a segment", TAG, out=SegmentOut,
              errors=(401, 404)),
        Route(ONE, "PATCH", "segments_update", update_segment, "Change a segment (admin)", TAG,
              body=SegmentPatch, out=SegmentOut, errors=(400, 401, 403, 404, 409, 422), roles=ADMIN_ONLY),
        Route(ONE, "DELETE", "segments_delete", delete_segment,
              "Delete a segment (admin). 409 lists what uses it unless on_use=detach, which pauses the "
              "workflows that use it", TAG, query=(OnUseParams,), ok=(204,),
              errors=(401, 403, 404, 409, 422), roles=ADMIN_ONLY),
        Route(f"{ONE}/reset", "POST", "segments_reset", reset_segment,
              "Reset a built-in segment to its shipped rule (admin)", TAG, out=SegmentOut,
              errors=(401, 403, 404, 422), roles=ADMIN_ONLY),
        Route(f"{ONE}/members", "GET", "segments_members", list_members, "Members, paginated", TAG,
              query=(MemberParams,), out=MemberPage, errors=(401, 404, 422)),
        Route(f"{ONE}/members", "POST", "segments_members_change", change_members,
              "Add or remove members of a static list (admin)", TAG, body=MembersChangeIn,
              out=MembersChangeOut, errors=(400, 401, 403, 404, 422), roles=ADMIN_ONLY),
        Route(f"{ONE}/refresh", "POST", "segments_refresh", refresh_segment,
              "Refresh the membership now; a failure is reported and changes nothing", TAG,
              out=RefreshOut, errors=(401, 404)),
        Route(f"{ONE}/events", "GET", "segments_events", list_events, "Entered / exited events, newest first",
              TAG, query=(EventParams,), out=EventPage, errors=(401, 404, 422)),
        Route(f"{ONE}/overlap/<int:other_id>", "GET", "segments_overlap", get_overlap,
              "Members only in this segment, only in the other, and in both", TAG, out=OverlapOut,
              errors=(401, 404)),
    ]

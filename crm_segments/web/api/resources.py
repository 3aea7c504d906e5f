"""The seven endpoints of every record type, built from its ``Kind``: list, create, get, update,
delete, upsert by external id and batch upsert."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request

from crm_segments.models import Profile
from crm_segments.records import Kind, WriteContext, crud
from crm_segments.records.validation import validate
from crm_segments.schemas.batch import MAX_BATCH, BatchIn
from crm_segments.web.db import db_session

from .envelopes import BatchItemOut, BatchResult, batch_of, list_params_of, page_of
from .personal_data import erase
from .routes import ADMIN_ONLY, Route, json_body

PAGING = ("limit", "after", "before", "sort")
DELETE_SUMMARY = {"profiles": "Erase a profile: delete it and everything that names it (records, tags, "
                              "segment history, messages and their outbox files, consent history, inbound "
                              "texts); an audit row keeps ids and counts only"}


def serialize(kind: Kind, row: Any) -> dict[str, Any]:
    data: dict[str, Any] = kind.out_schema.model_validate(row).model_dump(mode="json")
    return data


def write_context() -> WriteContext:
    """An API write: its source and who makes it (the key's user and the key), for the audit trails."""
    user = g.crm_api_user
    return WriteContext(source="api", actor=f"{user.email}, {g.get('crm_api_key_label', 'API key')}",
                        user_id=user.id)


def resource_routes(kind: Kind) -> list[Route]:
    name, label = kind.name, kind.label
    one, by_key = f"/{name}/<int:id>", f"/{name}/by-external-id/<external_id>"

    list_params = list_params_of(kind)

    def list_rows() -> Response:
        args = request.args.to_dict()
        paging = validate(list_params, {key: args.pop(key) for key in PAGING if key in args})
        page = crud.list_page(kind, session=db_session(), filters=args, sort=getattr(paging, "sort", None),
                              limit=paging.limit, after=paging.after, before=paging.before)
        return jsonify(items=[serialize(kind, row) for row in page.rows], next_after=page.next_after,
                       prev_before=page.prev_before)

    def create_row() -> tuple[Response, int]:
        body = validate(kind.create_schema, json_body())
        row = crud.create(kind, session=db_session(), data=body, ctx=write_context())
        return _reply(serialize(kind, row), 201)

    def get_row(id: int) -> Response:
        return jsonify(serialize(kind, crud.get(kind, session=db_session(), id=id)))

    def update_row(id: int) -> tuple[Response, int]:
        crud.get(kind, session=db_session(), id=id)  # 404 before the body is read
        body = validate(kind.update_schema, json_body())
        row = crud.update(kind, session=db_session(), id=id, data=body, ctx=write_context())
        return _reply(serialize(kind, row), 200)

    def delete_row(id: int) -> tuple[Response, int]:
        if kind.model is Profile:
            erase(id)  # the profile and everything that names it
        else:
            crud.delete(kind, session=db_session(), id=id)
        return Response(status=204), 204

    def upsert_row(external_id: str) -> tuple[Response, int]:
        row, created = crud.upsert(kind, session=db_session(), external_id=external_id, data=json_body(),
                                   ctx=write_context())
        return _reply(serialize(kind, row), 201 if created else 200)

    def batch_upsert() -> tuple[Response, int]:
        batch = validate(BatchIn, json_body())
        results = crud.upsert_many(kind, session=db_session(), batch=batch, ctx=write_context())
        created = sum(1 for _, new in results if new)
        result = BatchResult(
            created=created, updated=len(results) - created,
            items=[BatchItemOut(id=row.id, external_id=row.external_id, created=new)
                   for row, new in results],
        )
        return _reply(result.model_dump(mode="json"), 200)

    return [
        Route(f"/{name}", "GET", f"{name}_list", list_rows, f"List {name}", name,
              query=(list_params, kind.filter_schema), out=page_of(kind), errors=(401, 422)),
        Route(f"/{name}", "POST", f"{name}_create", create_row, f"Create a {label}", name,
              body=kind.create_schema, ok=(201,), out=kind.out_schema, errors=(400, 401, 409, 422),
              roles=ADMIN_ONLY),
        Route(one, "GET", f"{name}_get", get_row, f"Get a {label}", name,
              out=kind.out_schema, errors=(401, 404)),
        Route(one, "PATCH", f"{name}_update", update_row, f"Change the given fields of a {label}", name,
              body=kind.update_schema, out=kind.out_schema, errors=(400, 401, 404, 409, 422),
              roles=ADMIN_ONLY),
        Route(one, "DELETE", f"{name}_delete", delete_row, DELETE_SUMMARY.get(name, f"Delete a {label}"),
              name, ok=(204,), errors=(401, 404), roles=ADMIN_ONLY),
        Route(by_key, "PUT", f"{name}_upsert", upsert_row,
              f"Create the {label} with this external id (201) or change the given fields (200)", name,
              body=kind.update_schema, ok=(200, 201), out=kind.out_schema, errors=(400, 401, 409, 422),
              roles=ADMIN_ONLY),
        Route(f"/{name}/batch-upsert", "POST", f"{name}_batch_upsert", batch_upsert,
              f"Upsert up to {MAX_BATCH} {name} by external id, all or nothing", name,
              body=batch_of(kind), out=BatchResult, errors=(400, 401, 422), roles=ADMIN_ONLY),
    ]


def _reply(data: dict[str, Any], status: int) -> tuple[Response, int]:
    return jsonify(data), status

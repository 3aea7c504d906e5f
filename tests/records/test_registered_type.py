"""A record type added at run time (a throwaway invoice: its model, tagging tables, schemas and registry
entry, nothing else) is listed, written through the API, tagged, tested by segment rules and watched by
workflow triggers.

Its tables live in this test's own database, built with the schema plus them, and leave the shared
metadata and the registry when the module ends. Tag events, bulk operations and auto-tag rules name
the entity type in a plain column (no CHECK constraint), so the invoice needs no change there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import AwareDatetime
from sqlalchemy import Engine, ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from crm_segments import create_app
from crm_segments.accounts import users
from crm_segments.db import Base, Money, UTCDateTime, make_engine
from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import Enrollment, Message, TagEvent, record_types
from crm_segments.models._columns import created_at_column, updated_at_column
from crm_segments.models.record_types import RecordSchemas, RecordType, RuleField
from crm_segments.models.tags import _SuppressionMixin, _TaggingMixin
from crm_segments.privacy.plan import PLAN
from crm_segments.records import queries as record_queries
from crm_segments.records.entities import entity_tags
from crm_segments.schemas import _types as types
from crm_segments.schemas._base import InputModel, OutputModel, partial
from crm_segments.segments.compiler import compile_record_rule, compile_rule
from crm_segments.segments.rules import parse_rule
from crm_segments.selection import targets as selection
from crm_segments.state import get_state
from crm_segments.tagging.bulk import bulk_tag
from crm_segments.workflows.definition import parse_definition
from crm_segments.workflows.editing import create_workflow
from crm_segments.workflows.engine import advance_due
from crm_segments.workflows.lifecycle import set_status
from crm_segments.workflows.triggers import enroll_from_events
from tests.databases import postgres_reachable, private_postgres_database, skip_or_fail
from tests.factories import ProfileFactory, TagFactory, UserFactory, bind_session
from tests.privacy.test_plan import problems
from tests.signed_in import login
from tests.web.api.conftest import Api

NOW = dt.datetime(2026, 3, 15, 12, 0, tzinfo=dt.UTC)
STATUSES = ("draft", "issued", "paid", "void")


@cache
def _models() -> tuple[type[Any], type[Any], type[Any]]:
    """The invoice model and its tagging tables, declared once per run."""

    class Invoice(Base):
        __tablename__ = "test_invoices"

        id: Mapped[int] = mapped_column(primary_key=True)
        external_id: Mapped[str | None] = mapped_column(String(64), unique=True)
        profile_id: Mapped[int] = mapped_column(ForeignKey("crm_profiles.id", ondelete="CASCADE"))
        number: Mapped[str] = mapped_column(String(20))
        status: Mapped[str] = mapped_column(String(10), default="draft")
        amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
        issued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
        due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
        created_at: Mapped[dt.datetime] = created_at_column()
        updated_at: Mapped[dt.datetime] = updated_at_column()

    class InvoiceTag(_TaggingMixin, Base):
        __tablename__ = "test_invoice_tags"
        __entity_table__ = "test_invoices"

    class InvoiceTagSuppression(_SuppressionMixin, Base):
        __tablename__ = "test_invoice_tag_suppressions"
        __entity_table__ = "test_invoices"

    return Invoice, InvoiceTag, InvoiceTagSuppression


class InvoiceCreate(InputModel):
    external_id: types.ExternalId
    profile_id: types.Id | None = None
    profile_external_id: types.ExternalId | None = None
    number: Annotated[str, types.Text(20, min_length=1)]
    status: Annotated[str, types.OneOf(STATUSES)] = "draft"
    amount: types.Money = Decimal("0")
    issued_at: AwareDatetime | None = None
    due_at: AwareDatetime | None = None


class InvoiceOut(OutputModel):
    id: int
    external_id: str | None
    profile_id: int
    number: str
    status: str
    amount: types.MoneyOut
    issued_at: dt.datetime | None
    due_at: dt.datetime | None


@pytest.fixture(scope="module")
def invoice_type() -> Iterator[RecordType]:
    invoice, tag_model, suppression_model = _models()
    registered = record_types.register(RecordType(
        "invoice", "invoices", "Invoices", "invoice", invoice, tag_model, suppression_model,
        label="number", label_heading="Number", statuses=STATUSES, amount="amount",
        date="issued_at", date_heading="Issued", dates=(("issued_at", "Issued"), ("due_at", "Due")),
        trigger_dates=("issued_at", "due_at"),
        schemas=RecordSchemas(InvoiceCreate, partial(InvoiceCreate, "InvoiceUpdate"), InvoiceOut),
        rule_fields=(
            RuleField("number", "Number"), RuleField("status", "Status", "enum", STATUSES),
            RuleField("amount", "Amount", "money"), RuleField("due_at", "Due", "datetime"),
        ),
    ))
    yield registered
    record_types.unregister("invoice")
    for model in (invoice, tag_model, suppression_model):
        Base.metadata.remove(model.__table__)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def own_engine(request: pytest.FixtureRequest, invoice_type: RecordType, tmp_path: Path) -> Iterator[Engine]:
    """A database of this test's own: the whole schema, the invoice tables included."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'invoices.db'}"
        else:
            if reason := postgres_reachable():
                skip_or_fail(reason)
            url = stack.enter_context(private_postgres_database())
        engine = make_engine(url)
        stack.callback(engine.dispose)
        Base.metadata.create_all(engine)
        yield engine


@pytest.fixture
def own_session(own_engine: Engine) -> Iterator[Session]:
    with Session(own_engine, expire_on_commit=False) as session, bind_session(session):
        yield session


def _invoices(session: Session, invoice_type: RecordType) -> dict[str, Any]:
    """Ann has a paid invoice due long ago and an issued one; Bob a draft; Cy none."""
    invoice = invoice_type.model
    ann, bob, cy = ProfileFactory(first_name="Ann"), ProfileFactory(first_name="Bob"), ProfileFactory()
    session.flush()
    rows = {
        "paid": invoice(profile_id=ann.id, number="INV-1", status="paid", amount=Decimal("900"),
                        issued_at=NOW - dt.timedelta(days=60), due_at=NOW - dt.timedelta(days=30)),
        "issued": invoice(profile_id=ann.id, number="INV-2", status="issued", amount=Decimal("120"),
                          issued_at=NOW - dt.timedelta(days=5), due_at=NOW + dt.timedelta(days=25)),
        "draft": invoice(profile_id=bob.id, number="INV-3", status="draft", amount=Decimal("50")),
    }
    session.add_all(rows.values())
    session.commit()
    return {"ann": ann, "bob": bob, "cy": cy, **rows}


def test_a_registered_invoice_type_is_listed(
        own_session: Session, invoice_type: RecordType, own_engine: Engine, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = _invoices(own_session, invoice_type)
    issued = record_queries.validate_record_filter("invoice", status="issued")
    page = record_queries.list_records(session=own_session, record_filter=issued)
    assert [row.number for row in page.rows] == ["INV-2"]
    with pytest.raises(ValidationFailed, match="status"):
        record_queries.validate_record_filter("invoice", status="overdue")

    user = UserFactory(role="sales")
    own_session.commit()
    app = _app(own_engine, tmp_path, monkeypatch)
    try:
        client: FlaskClient = app.test_client()
        assert login(client, user.email).status_code == 302
        listed = client.get("/invoices?status=paid")
        assert listed.status_code == 200
        text = listed.get_data(as_text=True)
        assert "INV-1" in text and "INV-2" not in text
        page = client.get(f"/invoices/{world['paid'].id}")
        assert page.status_code == 200 and "Issued" in page.get_data(as_text=True)
        assert client.get("/receipts").status_code == 404
    finally:
        get_state(app).engine.dispose()


def _app(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    return create_app({
        "TESTING": True, "SECRET_KEY": "test-secret-key-0123456789", "WTF_CSRF_ENABLED": True,
        "CRM_SEGMENTS_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "CRM_SEGMENTS_OUTBOX_DIR": str(tmp_path / "outbox"), "CRM_SEGMENTS_BACKGROUND_WORKER": False,
    })


def test_invoices_are_listed_and_written_through_the_api(
        own_session: Session, invoice_type: RecordType, own_engine: Engine, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = _invoices(own_session, invoice_type)
    admin = UserFactory(role="admin")
    own_session.commit()
    _, secret = users.create_api_key(session=own_session, email=admin.email, name="host CRM")
    own_session.commit()
    app = _app(own_engine, tmp_path, monkeypatch)
    try:
        api = Api(app.test_client(), secret)
        assert "/invoices/{id}" in api.get("/openapi.json").json["paths"]
        listed = api.get("/invoices?status=issued")
        assert listed.status_code == 200, listed.json
        assert [item["number"] for item in listed.json["items"]] == ["INV-2"]
        assert api.get("/invoices?status=overdue").status_code == 422

        created = api.post("/invoices", json={"external_id": "X-9", "profile_id": world["bob"].id,
                                               "number": "INV-9", "amount": "75.50"})
        assert created.status_code == 201, created.json
        assert (created.json["status"], created.json["amount"]) == ("draft", "75.50")
        invoice_id = created.json["id"]
        refused = api.patch(f"/invoices/{invoice_id}", json={"status": "overdue"})
        assert refused.status_code == 422
        assert [f["field"] for f in refused.json["error"]["fields"]] == ["status"]
        issued = api.patch(f"/invoices/{invoice_id}", json={"status": "issued", "issued_at": NOW.isoformat()})
        assert issued.status_code == 200 and issued.json["status"] == "issued"
        tagged = api.post("/bulk-tag-operations", json={"action": "add", "tags": ["Chased"],
                                                        "entity_type": "invoice", "ids": [invoice_id]})
        assert tagged.status_code == 201, tagged.json
        assert [t["tag"]["name"] for t in api.get(f"/invoices/{invoice_id}/tags").json["items"]] == ["Chased"]
        upserted = api.put("/invoices/by-external-id/X-9", json={"amount": "80.00"})
        assert upserted.status_code == 200 and upserted.json["id"] == invoice_id
        assert api.get(f"/invoices/{invoice_id}").json["amount"] == "80.00"
        own_session.expire_all()
        stored = own_session.get(invoice_type.model, invoice_id)
        assert (stored.profile_id, stored.status, stored.amount) == (
            world["bob"].id, "issued", Decimal("80.00"))
        own_session.rollback()  # end the read: the API writes next
        assert api.delete(f"/invoices/{invoice_id}").status_code == 204
        assert api.get(f"/invoices/{invoice_id}").status_code == 404
    finally:
        get_state(app).engine.dispose()


def test_invoices_are_tagged_in_bulk_and_tested_by_segment_rules(
        own_session: Session, invoice_type: RecordType) -> None:
    world = _invoices(own_session, invoice_type)
    late, issued = TagFactory(name="Late payer"), TagFactory(name="Issued")
    own_session.flush()
    chosen = selection.by_ids(session=own_session, entity_type="invoice", ids=[world["paid"].id])
    assert bulk_tag(session=own_session, action="add", selection=chosen, tags=[late]).changed == 1
    by_filter = selection.by_record_filter("invoice", status="issued")
    assert bulk_tag(session=own_session, action="add", selection=by_filter, tags=[issued]).changed == 1
    own_session.commit()
    assert [t.tag.name for t in entity_tags(session=own_session, entity_type="invoice",
                                            entity_id=world["paid"].id)] == ["Late payer"]
    assert [t.tag.name for t in entity_tags(session=own_session, entity_type="invoice",
                                            entity_id=world["issued"].id)] == ["Issued"]
    events = own_session.scalars(select(TagEvent).where(TagEvent.entity_type == "invoice")).all()
    assert {(e.entity_id, e.profile_id, e.action) for e in events} == {
        (world["paid"].id, world["ann"].id, "added"), (world["issued"].id, world["ann"].id, "added")}

    def profiles(doc: dict[str, Any]) -> set[int]:
        found = set(own_session.scalars(compile_rule(parse_rule(doc), now=NOW)))
        return found & {world["ann"].id, world["bob"].id, world["cy"].id}

    over_500 = {"records": "invoices", "sum": {"field": "amount", "op": "gte", "value": 500}}
    assert profiles(over_500) == {world["ann"].id}
    assert profiles({"records": "invoices", "exists": True, "where": {"tags": "late payer"}}) == {
        world["ann"].id}
    assert profiles({"records": "invoices", "exists": False}) == {world["cy"].id}
    draft_rule = parse_rule({"field": "status", "op": "eq", "value": "draft"}, root="invoice")
    assert set(own_session.scalars(compile_record_rule(draft_rule, entity="invoice", now=NOW))) == {
        world["draft"].id}


def test_workflows_can_be_triggered_by_invoice_dates_and_tags(invoice_type: RecordType) -> None:
    base = {"key": "dunning", "name": "Dunning",
            "steps": [{"key": "tag", "type": "add_tag", "tag": "chased"}]}
    due = parse_definition({**base, "trigger": {"type": "date_field", "record": "invoice", "field": "due_at",
                                                "offset_days": 3, "statuses": ["issued"]}})
    assert (due.trigger.type, getattr(due.trigger, "record", None)) == ("date_field", "invoice")
    tagged = parse_definition({**base, "trigger": {"type": "tag_added", "tag": "late payer",
                                                   "entity": "invoice"}})
    assert getattr(tagged.trigger, "entity", None) == "invoice"
    with pytest.raises(ValidationFailed, match="field must be one of issued_at, due_at"):
        parse_definition({**base, "trigger": {"type": "date_field", "record": "invoice", "field": "amount"}})
    with pytest.raises(ValidationFailed, match="must be one of"):
        parse_definition({**base, "trigger": {"type": "date_field", "record": "receipt", "field": "due_at"}})


def test_an_invoice_due_date_enrolls_its_profile_and_queues_the_message(
        own_session: Session, own_engine: Engine, invoice_type: RecordType) -> None:
    world = _invoices(own_session, invoice_type)
    void = invoice_type.model(profile_id=world["bob"].id, number="INV-4", status="void",
                              due_at=world["issued"].due_at)  # due the same day, but void: left out
    own_session.add(void)
    own_session.commit()
    workflow = create_workflow(session=own_session, data={
        "name": "Payment reminder",
        "trigger": {"type": "date_field", "record": "invoice", "field": "due_at", "offset_days": -25,
                    "statuses": ["issued"]},
        "steps": [{"key": "remind", "type": "send_email", "template": "evergreen/welcome"}],
    })
    set_status(session=own_session, workflow_id=workflow.id, status="active", now=NOW - dt.timedelta(hours=1))
    own_session.commit()
    assert enroll_from_events(own_session, now=NOW + dt.timedelta(minutes=1)) == 1  # 25 days before due
    own_session.commit()
    [enrollment] = own_session.scalars(select(Enrollment).where(Enrollment.workflow_id == workflow.id))
    assert (enrollment.profile_id, enrollment.trigger_record_type, enrollment.trigger_record_id) == (
        world["ann"].id, "invoice", world["issued"].id)
    own_session.commit()

    advance_due(sessionmaker(own_engine, expire_on_commit=False), now=NOW + dt.timedelta(minutes=2))
    own_session.expire_all()
    [message] = own_session.scalars(select(Message).where(Message.workflow_id == workflow.id))
    assert (message.profile_id, message.step_key, message.status) == (world["ann"].id, "remind", "pending")
    assert (message.record_type, message.record_id) == ("invoice", world["issued"].id)


def test_an_unregistered_type_is_gone_everywhere(invoice_type: RecordType) -> None:
    record_types.unregister("invoice")
    try:
        assert "invoice" not in record_types.tag_entity_types()
        assert "invoice" not in record_queries.KINDS
        with pytest.raises(ValidationFailed):
            parse_definition({"key": "k", "name": "n", "steps": [{"key": "t", "type": "exit"}],
                              "trigger": {"type": "date_field", "record": "invoice", "field": "due_at"}})
    finally:
        record_types.register(invoice_type)
    assert "invoice" in record_types.tag_entity_types()


def test_the_privacy_plan_erases_and_exports_invoices_and_their_tags(invoice_type: RecordType) -> None:
    assert problems(Base.metadata, dict(PLAN)) == []  # the invoice tables are declared and handled
    assert [(PLAN[t].erase, PLAN[t].export) for t in (
        "test_invoices", "test_invoice_tags", "test_invoice_tag_suppressions")] == [
        ("cascade", "invoices"), ("cascade", "invoice_tags"), ("cascade", "invoice_tag_suppressions")]

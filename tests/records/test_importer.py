"""CSV import: every bad row reported by line and column; one bad row writes nothing."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import (
    Category,
    Job,
    JobLine,
    Opportunity,
    Product,
    Profile,
    Quote,
    QuoteLine,
    SupportTicket,
)
from crm_segments.records.importer import ImportReport, import_csv
from tests.factories import CategoryFactory, JobFactory, ProductFactory, ProfileFactory, QuoteFactory


def _csv(text: str, *, bom: bool = False) -> io.BytesIO:
    return io.BytesIO(("\ufeff" if bom else "").encode() + text.encode())


def _count(session: Session, model: type[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _errors(session: Session, kind: str, text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(ValidationFailed) as failed:
        import_csv(session=session, kind=kind, stream=_csv(text))
    return [(e.row, e.field) for e in failed.value.errors]


def test_profiles_import_with_bom_blank_lines_and_consent(session: Session, changed: list[set[int]]) -> None:
    report = import_csv(session=session, kind="profiles", stream=_csv(
        "external_id,first_name,email,phone,interests,email_consent,custom_attributes\r\n"
        "P-1,Ann,ann@example.com,+44 20 7946 0958,golf; sailing,yes,\"{\"\"tier\"\": 2}\"\r\n"
        "\r\n"
        "P-2,Bob,,,,,\r\n", bom=True))
    assert (report.rows, report.created, report.updated) == (2, 2, 0)
    ann = session.scalars(select(Profile).where(Profile.external_id == "P-1")).one()
    assert ann.phone == "+442079460958" and ann.interests == ["golf", "sailing"]
    assert ann.custom_attributes == {"tier": 2}
    assert ann.email_consent and ann.email_consent_source == "import" and ann.email_consent_at
    bob = session.scalars(select(Profile).where(Profile.external_id == "P-2")).one()
    assert bob.email_consent_at is None and bob.lifecycle_status == "lead"
    assert changed[-1] == {ann.id, bob.id}


def test_existing_external_id_updates_only_the_filled_cells(session: Session) -> None:
    profile = ProfileFactory(external_id="P-1", first_name="Ann", city="Oslo")
    report = import_csv(session=session, kind="profiles", stream=_csv(
        "external_id,first_name,city\nP-1,,Bergen\nP-2,Cy,\n"))
    assert (report.created, report.updated) == (1, 1)
    session.expire_all()
    assert (profile.first_name, profile.city) == ("Ann", "Bergen")
    assert str(report) == "profiles: 2 rows, 1 created, 1 updated"


def test_one_bad_row_writes_nothing_and_every_bad_row_is_named(session: Session, backend: str) -> None:
    ProfileFactory(external_id="P-0")
    before = _count(session, Profile)
    errors = _errors(session, "profiles",
                     "external_id,email,phone,annual_revenue,lifecycle_status\n"
                     "P-1,ok@example.com,,,\n"
                     "P-2,not-an-email,,,\n"
                     "P-3,,12345,-5,zombie\n"
                     "P-1,,,,\n")
    assert errors == [(3, "email"), (4, "annual_revenue"), (4, "lifecycle_status"), (4, "phone"),
                      (5, "external_id")]
    assert _count(session, Profile) == before


def test_file_problems_are_reported(session: Session, backend: str) -> None:
    assert _errors(session, "profiles", "external_id,colour,email\n") == [(1, "colour")]
    assert _errors(session, "profiles", "email\nann@example.com\n") == [(1, "external_id")]
    assert _errors(session, "profiles", "") == [(1, "header")]
    assert _errors(session, "profiles", "external_id,email\nP-1\n") == [(2, "row")]
    assert _errors(session, "profiles", "external_id,custom_attributes\nP-1,{oops\n") == \
        [(2, "custom_attributes")]
    with pytest.raises(ValidationFailed, match="UTF-8"):
        import_csv(session=session, kind="profiles", stream=io.BytesIO(b"external_id\n\xff\xfe\n"))
    with pytest.raises(ValidationFailed, match="kind"):
        import_csv(session=session, kind="planets", stream=_csv("external_id\n"))


def test_records_reference_rows_by_external_id_and_clash_with_the_database(session: Session) -> None:
    ProfileFactory(external_id="P-1")
    QuoteFactory(number="Q-TAKEN")
    before = _count(session, Quote)
    errors = _errors(session, "quotes",
                     "external_id,profile_external_id,number,total,status,sent_at\n"
                     "Q-1,P-1,Q-100,10.00,sent,2026-01-05T10:00:00+01:00\n"
                     "Q-2,P-404,Q-101,5,draft,\n"
                     "Q-3,P-1,Q-TAKEN,5,draft,\n"
                     "Q-4,P-1,Q-100,5,draft,\n"
                     "Q-5,P-1,Q-102,5,draft,2026-01-05T10:00:00\n")
    assert errors == [(3, "profile_external_id"), (4, "number"), (5, "number"), (6, "sent_at")]
    assert _count(session, Quote) == before


def test_every_record_type_imports(session: Session, backend: str) -> None:
    ProfileFactory(external_id="P-1")
    steps = [
        ("categories", "external_id,name\nC-1,Heating\n", Category),
        ("categories", "external_id,name,parent_external_id\nC-2,Boilers,C-1\n", Category),
        ("products", "external_id,sku,name,category_external_id,price\nPR-1,SKU-1,Boiler,C-2,999.90\n",
         Product),
        ("quotes", "external_id,profile_external_id,number,total\nQ-1,P-1,N-1,100\n", Quote),
        ("quote_lines", "quote_external_id,product_sku,quantity,unit_price\nQ-1,SKU-1,2,50\nQ-1,,1,0\n",
         QuoteLine),
        ("jobs", "external_id,profile_external_id,quote_external_id,status,amount\n"
                 "J-1,P-1,Q-1,completed,100\n", Job),
        ("job_lines", "job_external_id,product_sku,unit_price\nJ-1,SKU-1,100\n", JobLine),
        ("opportunities", "external_id,profile_external_id,stage,value,expected_close\n"
                          "O-1,P-1,won,50,2026-03-01\n", Opportunity),
        ("tickets", "external_id,profile_external_id,subject,status\nT-1,P-1,Leak,open\n", SupportTicket),
    ]
    for kind, text, model in steps:
        before = _count(session, model)
        report = import_csv(session=session, kind=kind, stream=_csv(text))
        assert isinstance(report, ImportReport) and report.created >= 1, kind
        assert _count(session, model) > before, kind
    job = session.scalars(select(Job)).one()
    assert job.quote_id == session.scalars(select(Quote.id)).one()
    assert job.finished_at is not None  # completed without a time: stamped at import
    amounts = sorted(session.scalars(select(QuoteLine.amount)))
    assert amounts == [Decimal("0.00"), Decimal("100.00")]


def test_line_import_replaces_the_lines_of_the_named_parents(session: Session, backend: str) -> None:
    product = ProductFactory(sku="SKU-1")
    job = JobFactory(external_id="J-1")
    other = JobFactory(external_id="J-2")
    session.add_all([JobLine(job_id=job.id, description="old"), JobLine(job_id=other.id, description="keep")])
    session.flush()
    text = "job_external_id,product_sku,description,unit_price\nJ-1,SKU-1,new a,10\nJ-1,,new b,5\n"
    for _ in range(2):  # importing the same file twice gives the same lines
        report = import_csv(session=session, kind="job_lines", stream=_csv(text))
        assert (report.created, report.replaced) == (2, 1)
    rows = session.execute(select(JobLine.job_id, JobLine.description, JobLine.product_id)
                           .order_by(JobLine.description)).all()
    assert [tuple(r) for r in rows] == [(other.id, "keep", None), (job.id, "new a", product.id),
                                        (job.id, "new b", None)]
    assert str(report) == "job_lines: 2 rows, 2 created, 0 updated (replacing the lines of 1 job)"


def test_bad_line_rows_are_named(session: Session, backend: str) -> None:
    QuoteFactory(external_id="Q-1")
    before = _count(session, QuoteLine)
    errors = _errors(session, "quote_lines",
                     "quote_external_id,product_sku,quantity,unit_price\n"
                     "Q-1,,1,5\nQ-404,,1,5\nQ-1,NOPE,1,5\nQ-1,,0,5\n,,1,1\n")
    assert errors == [(3, "quote_external_id"), (4, "product_sku"), (5, "quantity"), (6, "quote_id")]
    assert _count(session, QuoteLine) == before


def test_text_streams_are_accepted(session: Session, backend: str) -> None:
    CategoryFactory(name="Existing")
    report = import_csv(session=session, kind="categories",
                        stream=io.StringIO("\ufeffexternal_id,name\nC-9,Pumps\n"))
    assert report.created == 1

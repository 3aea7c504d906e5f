"""A large profiles CSV imported through `crm-segments import` while workflows are active.

    python -m benchmarks.run import-profiles-csv --profiles 355000

Target (PostgreSQL): a valid 355,000-row profiles CSV (about 50 MB) imports in under 60 s with under
300 MB peak memory while a segment-entry workflow and a tag-triggered workflow are active, and every
imported profile that enters the segment or gets the tag is enrolled exactly once.

The set-up (untimed, a process of its own): the shipped defaults (`init-db`), an auto-tag rule that
tags every imported lead, a workflow on entering "Customers with demographics and firmographics"
(every generated row has a company or a birth date) and one on that tag, both active; the segments
filled once; the CSV file.
The timed part runs the command in a child process, whose peak RSS the runner records. Side by side,
both import scenarios then load the rows the import wrote into two copies of the database as it was
before, by binary COPY with the schema's triggers and without (benchmarks/rows_limit.py): the least
any import writing those rows can cost, reported as ``copy_seconds``, ``copy_without_triggers_seconds``
and the ratio ``import_to_copy``.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from benchmarks import rows_limit
from benchmarks.context import BenchContext
from benchmarks.registry import scenario
from crm_segments.db import make_session_factory, utcnow
from crm_segments.models import AutoTagRule, Enrollment, Profile, Segment, Workflow

SEGMENT = "demographics_or_firmographics"
LEAD_TAG = "Imported lead"
WORKFLOWS = {"segment": "Bench import: segment entry", "tag": "Bench import: tagged lead"}
COLUMNS = ("external_id", "first_name", "last_name", "email", "phone", "company", "job_title", "birth_date",
           "gender", "city", "region", "country", "postal_code", "interests", "lifecycle_status",
           "email_consent", "sms_consent")
FIRST = ("Ann", "Bob", "Carla", "Dev", "Elif", "Finn", "Grace", "Hugo", "Ines", "Jonas", "Kira", "Liam")
LAST = ("Smith", "Jones", "Garcia", "Nguyen", "Okafor", "Rossi", "Schmidt", "Tanaka", "Walsh", "Young")
PLACES = (("Sacramento", "California", "US"), ("Austin", "Texas", "US"), ("Leeds", "England", "GB"),
          ("Cork", "Munster", "IE"), ("Lyon", "Auvergne-Rhone-Alpes", "FR"), ("Porto", "Norte", "PT"))
INTERESTS = ("solar", "heat pumps", "ev charging", "insulation", "batteries", "smart home")


def csv_path(profiles: int, seed: int) -> Path:
    return Path(tempfile.gettempdir()) / f"crm-bench-import-{profiles}-{seed}.csv"


def write_csv(path: Path, *, profiles: int, seed: int) -> None:
    """``profiles`` valid, distinct profile rows (about 145 bytes each), the same for a seed."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        for n in range(profiles):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            city, region, country = rng.choice(PLACES)
            company = rng.random() < 0.6
            writer.writerow((
                f"IMP-{seed}-{n:07d}", first, last, f"{first}.{last}.{n}@example.com".lower(),
                f"+1 415 555 {n % 10_000:04d}" if rng.random() < 0.5 else "",
                f"{last} {rng.choice(('Ltd', 'GmbH', 'Inc'))}" if company else "",
                rng.choice(("Owner", "Buyer", "Manager")) if company else "",
                "" if company else f"{rng.randint(1950, 2004)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",  # noqa: E501
                rng.choice(("female", "male", "")), city, region, country, f"{rng.randint(10000, 99999)}",
                "; ".join(rng.sample(INTERESTS, rng.randint(0, 2))),
                rng.choice(("lead", "lead", "prospect")),
                rng.choice(("yes", "no")), rng.choice(("yes", "no")),
            ))


def _prepare(context: BenchContext) -> None:
    from crm_segments.segments.refresh import refresh_many
    from crm_segments.tagging.names import get_or_create_tag
    from crm_segments.wiring import install_defaults
    from crm_segments.workflows.editing import create_workflow
    from crm_segments.workflows.lifecycle import set_status

    now = utcnow() - dt.timedelta(minutes=1)
    factory = make_session_factory(context.engine)
    with factory() as session:
        install_defaults(session=session)
        tag, _ = get_or_create_tag(session=session, name=LEAD_TAG, color="#0ea5e9",
                                   description="Imported leads")
        condition = {"field": "lifecycle_status", "op": "eq", "value": "lead"}
        session.add(AutoTagRule(name="Leads", description="Every lead", entity_type="profile",
                                condition=condition, tag_id=tag.id, mode="live", enabled=True))
        steps = [{"key": "welcome", "type": "send_email", "template": "evergreen/welcome"}]
        for name, trigger in ((WORKFLOWS["segment"], {"type": "segment_entered", "segment": SEGMENT}),
                              (WORKFLOWS["tag"], {"type": "tag_added", "tag": LEAD_TAG})):
            data = {"name": name, "trigger": trigger, "steps": steps}
            workflow = create_workflow(session=session, data=data)
            set_status(session=session, workflow_id=workflow.id, status="active", now=now)
        session.commit()
        segment_ids = list(session.scalars(select(Segment.id)))
    # A running install has filled its segments once (`run` does at start); entries are events after that.
    refresh_many(factory, segment_ids, now=now)
    path = csv_path(context.profiles, context.seed)
    if not path.exists():
        write_csv(path, profiles=context.profiles, seed=context.seed)


def _timed_import(context: BenchContext, kind: str, path: Path) -> dict[str, Any]:
    """`crm-segments import KIND PATH` timed as its own process (a failed import fails the run): its
    report, the file's size and the rows a second; then the same rows loaded by binary COPY into two
    copies of the database as it was before (rows_limit.py), with the schema's triggers and without,
    side by side."""
    context.close()  # a database is copied only while nothing is connected to it
    copies = {triggers: rows_limit.copy_database(context.database_url, f"{_database(context)}_rows_{name}")
              for triggers, name in ((True, "triggers"), (False, "bare"))}
    try:
        mark = rows_limit.xid_mark(context.database_url)
        env = {**os.environ, "DATABASE_URL": context.database_url}
        command = [str(Path(sys.executable).with_name("crm-segments")), "import", kind, str(path)]
        rows_limit.checkpoint(context.database_url)
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise AssertionError(f"import failed ({done.returncode}): {done.stderr[-2000:]}")
        limits = _limits(context.database_url, copies, mark)
    finally:
        for url in copies.values():
            rows_limit.drop_database(url)
    return {"report": done.stdout.strip(), "csv_mb": round(path.stat().st_size / 1e6, 1),
            "total_rows": context.profiles, "import_seconds": round(seconds, 2),
            "rows_per_second": round(context.profiles / seconds),
            **limits, "import_to_copy": round(seconds / limits["copy_seconds"], 2)}


def _limits(url: str, copies: dict[bool, str], mark: int) -> dict[str, Any]:
    """The import's rows loaded into each copy: seconds, rows a second, and each table's rows and
    seconds; the run fails unless each copy then holds the same rows of every table as the import's
    database, and reports the change log's rows on each side (one per profile and statement)."""
    figures: dict[str, Any] = {}
    with rows_limit.dumped_rows(url, mark) as dumps:
        figures["import_rows"] = {table: rows for table, (_, rows) in dumps.items()}
        with psycopg.connect(rows_limit.libpq(url)) as connection:
            log = rows_limit.count_newer(connection, rows_limit.CHANGE_LOG, mark)
        figures["import_change_log_rows"] = log
        for triggers, copy in copies.items():
            name = "copy" if triggers else "copy_without_triggers"
            copy_mark = rows_limit.xid_mark(copy)
            rows_limit.checkpoint(copy)
            loaded = rows_limit.load(copy, dumps, triggers=triggers)
            with psycopg.connect(rows_limit.libpq(copy)) as connection:
                written = {table: rows_limit.count_newer(connection, table, copy_mark) for table in dumps}
                if triggers:
                    figures["copy_change_log_rows"] = rows_limit.count_newer(
                        connection, rows_limit.CHANGE_LOG, copy_mark)
            if written != figures["import_rows"]:
                raise AssertionError(f"{name}: rows {written}, the import's {figures['import_rows']}")
            figures[f"{name}_seconds"] = loaded.seconds
            figures[f"{name}_server_cpu_seconds"] = loaded.server_cpu_seconds
            figures[f"{name}_tables_s"] = loaded.tables
    return figures


def _database(context: BenchContext) -> str:
    name = make_url(context.database_url).database
    assert name is not None
    return name


@scenario("import-profiles-csv", "`crm-segments import profiles` of an N-row CSV with two workflows active",
          prepare=_prepare)
def import_profiles(context: BenchContext) -> dict[str, Any]:
    imported_file = _timed_import(context, "profiles", csv_path(context.profiles, context.seed))
    with make_session_factory(context.engine)() as session:
        imported = session.scalar(select(func.count()).select_from(Profile)) or 0
        enrolled = {name: (count, distinct) for name, count, distinct in session.execute(
            select(Workflow.name, func.count(Enrollment.id), func.count(func.distinct(Enrollment.profile_id)))
            .join(Enrollment, Enrollment.workflow_id == Workflow.id).group_by(Workflow.name))}
        leads = session.scalar(select(func.count()).select_from(Profile)
                               .where(Profile.lifecycle_status == "lead")) or 0
    expected = {WORKFLOWS["segment"]: imported, WORKFLOWS["tag"]: leads}
    for name, count in expected.items():
        if enrolled.get(name) != (count, count):
            raise AssertionError(f"{name}: (enrollments, profiles) {enrolled.get(name)}, "
                                 f"expected {count} once each")
    return {**imported_file, "profiles_imported": imported, "enrolled_on_entry": imported,
            "enrolled_on_tag": leads}


JOB_WORKFLOW = "Bench import: active customer"
JOB_COLUMNS = ("external_id", "profile_external_id", "title", "status", "amount", "currency", "finished_at")


def jobs_csv_path(jobs: int, seed: int) -> Path:
    return Path(tempfile.gettempdir()) / f"crm-bench-import-jobs-{jobs}-{seed}.csv"


def write_jobs_csv(path: Path, *, jobs: int, seed: int, owners: list[str], now: dt.datetime) -> None:
    """``jobs`` new completed jobs of random existing profiles, finished within the last 30 days."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(JOB_COLUMNS)
        for n in range(jobs):
            finished = now - dt.timedelta(days=rng.randint(1, 30), minutes=rng.randint(0, 1439))
            writer.writerow((f"IMPJ-{seed}-{n:07d}", rng.choice(owners), rng.choice(("Install", "Service")),
                             "completed", f"{rng.randint(200, 20_000)}.00", "USD", finished.isoformat()))


def _prepare_jobs(context: BenchContext) -> None:
    """The shipped defaults (`init-db`: live segments, auto-tag rules), N seeded demo profiles with
    their history, one active workflow on entering "Active Customers", the segments filled once, and
    a CSV of N completed jobs of those profiles."""
    from crm_segments.segments.refresh import refresh_many
    from crm_segments.wiring import install_defaults
    from crm_segments.workflows.editing import create_workflow
    from crm_segments.workflows.lifecycle import set_status

    now = utcnow() - dt.timedelta(minutes=1)
    factory = make_session_factory(context.engine)
    with factory() as session:
        install_defaults(session=session)
        session.commit()
    context.ensure_demo_data()
    with factory() as session:
        steps = [{"key": "welcome", "type": "send_email", "template": "evergreen/welcome"}]
        workflow = create_workflow(session=session, data={
            "name": JOB_WORKFLOW, "steps": steps,
            "trigger": {"type": "segment_entered", "segment": "active_customers"}})
        set_status(session=session, workflow_id=workflow.id, status="active", now=now)
        session.commit()
        segment_ids = list(session.scalars(select(Segment.id)))
        owners = list(session.scalars(select(Profile.external_id).where(Profile.external_id.is_not(None))))
    refresh_many(factory, segment_ids, now=now)
    with context.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
    write_jobs_csv(jobs_csv_path(context.profiles, context.seed), jobs=context.profiles, seed=context.seed,
                   owners=owners, now=now)


@scenario("import-jobs-csv", "`crm-segments import jobs` of N completed jobs of N seeded profiles, with the "
          "shipped segments and auto-tag rules and one active workflow", prepare=_prepare_jobs)
def import_jobs(context: BenchContext) -> dict[str, Any]:
    imported_file = _timed_import(context, "jobs", jobs_csv_path(context.profiles, context.seed))
    with make_session_factory(context.engine)() as session:
        enrolled, distinct = session.execute(
            select(func.count(Enrollment.id), func.count(func.distinct(Enrollment.profile_id)))
            .join(Workflow, Workflow.id == Enrollment.workflow_id).where(Workflow.name == JOB_WORKFLOW)).one()
    if enrolled != distinct or not enrolled:
        raise AssertionError(f"{JOB_WORKFLOW}: {enrolled} enrollments of {distinct} profiles")
    return {**imported_file, "enrolled_on_entry": enrolled}

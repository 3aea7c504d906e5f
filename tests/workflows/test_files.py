"""Workflows as YAML: validation errors name the file and field, export and import round-trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

import crm_segments.models  # noqa: F401
from crm_segments.cli import main
from crm_segments.db import Base, make_engine, make_session_factory
from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import Segment, Workflow
from crm_segments.workflows.definition import parse_definition
from crm_segments.workflows.editing import create_workflow, definition_data
from crm_segments.workflows.files import dump_yaml, import_yaml, read_yaml, to_definition

from .helpers import EMAIL_TEMPLATE, SMS_TEMPLATE, definition, make_segment

FULL = {
    "key": "full",
    "name": "Everything",
    "description": "Uses every kind of step.",
    "trigger": {"type": "segment_entered", "segment": "Quoted",
                "record": {"type": "quote", "statuses": ["sent"]}},
    "steps": [
        {"key": "first", "type": "send_email", "template": EMAIL_TEMPLATE, "category": "marketing"},
        {"key": "later", "type": "wait", "duration": {"days": 3}},
        {"key": "weekday", "type": "wait", "until": {"weekdays": ["mon", "tue"], "time": "10:00"}},
        {"key": "text", "type": "send_sms", "template": SMS_TEMPLATE},
        {"key": "tag", "type": "add_tag", "tag": "chased"},
        {"key": "untag", "type": "remove_tag", "tag": "new"},
        {"key": "exit", "type": "exit", "reason": "done"},
    ],
    "goal": {"since_enrollment": [{"record": "quote", "field": "decided_at", "status": "accepted",
                                   "same_record": True}],
             "conversion_window_days": 14},
    "exit_on_segment_exit": True,
    "reentry": {"policy": "once_per_days", "days": 90},
    "schedule": {"starts_at": "2024-06-01T00:00:00+00:00", "ends_at": "2024-07-01T00:00:00+00:00"},
}


def test_errors_name_the_file_and_field() -> None:
    text = yaml.safe_dump({**FULL, "steps": [{"key": "x", "type": "send_email"}, {"type": "teleport"}],
                           "reentry": {"policy": "sometimes"}})
    with pytest.raises(ValidationFailed) as failed:
        parse_definition(read_yaml(text, source="bad.yaml"), prefix="bad.yaml: ")
    fields = {e.field for e in failed.value.errors}
    assert {"bad.yaml: steps[0].template", "bad.yaml: steps[1]", "bad.yaml: reentry.policy"} <= fields
    with pytest.raises(ValidationFailed, match="broken.yaml: is not valid YAML"):
        read_yaml("name: [unclosed", source="broken.yaml")


@pytest.mark.usefixtures("backend")
def test_export_then_import_gives_the_same_workflow(session: Session) -> None:
    make_segment(session)
    workflow = create_workflow(session=session, data=FULL)
    exported = dump_yaml(workflow)
    assert parse_definition(yaml.safe_load(exported)) == parse_definition(FULL)

    changed = exported.replace("days: 3", "days: 5")
    again, created = import_yaml(session=session, text=changed, source="full.yaml")
    assert (again.id, created, again.version) == (workflow.id, False, 2)
    assert again.steps[1]["duration"] == {"days": 5, "hours": 0, "minutes": 0}
    assert [s["key"] for s in again.steps] == [s["key"] for s in FULL["steps"]]


@pytest.mark.usefixtures("backend")
def test_unknown_references_are_named(session: Session) -> None:
    data = definition(None, trigger={"type": "tag_added", "tag": "nope"})
    with pytest.raises(ValidationFailed) as failed:
        import_yaml(session=session, text=yaml.safe_dump(data), source="x.yaml")
    assert [str(e) for e in failed.value.errors] == ["x.yaml: trigger.tag: no tag is named 'nope'"]


def test_cli_export_and_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    with make_session_factory(engine)() as session:
        session.add(Segment(name="Quoted", kind="static"))
        session.flush()
        create_workflow(session=session, data=FULL)
        session.commit()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("CRM_SEGMENTS_INSTANCE_DIR", str(tmp_path / "instance"))
    runner = CliRunner()

    exported = runner.invoke(main, ["workflows", "export", "-o", str(tmp_path / "out")])
    assert exported.exit_code == 0, exported.output
    path = tmp_path / "out" / "full.yaml"
    data = yaml.safe_load(path.read_text())
    assert data["steps"][0]["key"] == "first"

    data["name"], data["key"] = "Everything again", "full_copy"
    copy = tmp_path / "copy.yaml"
    copy.write_text(yaml.safe_dump(data))
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**data, "key": "other", "name": "Other", "steps": []}))
    refused = runner.invoke(main, ["workflows", "import", str(copy), str(bad)])
    assert refused.exit_code != 0
    assert "bad.yaml: steps" in refused.output and "nothing was imported" in refused.output

    imported = runner.invoke(main, ["workflows", "import", str(copy)])
    assert imported.exit_code == 0, imported.output
    with make_session_factory(engine)() as session:
        names = list(session.scalars(select(Workflow.name).order_by(Workflow.id)))
        copied = session.scalars(select(Workflow).where(Workflow.key == "full_copy")).one()
        assert definition_data(parse_definition(to_definition(copied))) == definition_data(
            parse_definition({**FULL, "name": "Everything again", "key": "full_copy"}))
    engine.dispose()
    assert names == ["Everything", "Everything again"]


@pytest.mark.usefixtures("backend")
def test_an_import_reports_every_mistake_at_once(session: Session) -> None:
    # Three mistakes of two kinds: a wrong shape, and references to things that do not exist.
    data = definition(None, trigger={"type": "tag_added", "tag": "nope"}, steps=[
        {"type": "wait", "duration": {"days": "three"}},
        {"type": "send_email", "template": "no_such_template", "category": "marketing"},
    ])
    with pytest.raises(ValidationFailed) as failed:
        import_yaml(session=session, text=yaml.safe_dump(data), source="x.yaml")
    fields = [e.field for e in failed.value.errors]
    assert fields == ["x.yaml: steps[0].duration.days", "x.yaml: trigger.tag", "x.yaml: steps[1].template"]

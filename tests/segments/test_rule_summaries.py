# ruff: noqa: F811  (pytest fixtures imported from tests/web/conftest.py are redefined as arguments)
"""Every shipped rule reads as one sentence that names each field it tests, on the segments list too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from crm_segments.segments.describe import describe
from crm_segments.segments.fields import SOURCES
from crm_segments.segments.prebuilt import BUILTINS, Builtin, install_builtin_segments
from crm_segments.segments.rules import (
    AllOf,
    AnyOf,
    FieldCondition,
    NotOf,
    ProfileCondition,
    RecordCondition,
    Rule,
    TagCondition,
    parse_rule,
)


def _names(rule: Rule) -> Iterator[str]:
    """What a reader must find in the sentence: every field's label and every record type."""
    if isinstance(rule, AllOf | AnyOf):
        for child in rule.children:
            yield from _names(child)
    elif isinstance(rule, NotOf):
        yield from _names(rule.child)
    elif isinstance(rule, FieldCondition):
        yield rule.field.label
        if rule.ref is not None:
            yield rule.ref.field.label
    elif isinstance(rule, RecordCondition):
        source = SOURCES[rule.source]
        yield source.singular if rule.measure is None else source.label
        if rule.measure is not None:
            yield from _names(rule.measure.condition)
        if rule.where is not None:
            yield from _names(rule.where)
    elif isinstance(rule, TagCondition):
        yield from rule.names
    elif isinstance(rule, ProfileCondition):
        yield from _names(rule.rule)


def test_all_twenty_shipped_rules_are_summarised() -> None:
    assert len(BUILTINS) == 20


@pytest.mark.parametrize("builtin", BUILTINS, ids=lambda b: b.key)
def test_a_shipped_rule_reads_as_a_sentence_naming_its_fields(builtin: Builtin) -> None:
    rule = parse_rule(builtin.build(builtin.defaults))
    summary = describe(rule)
    assert summary.strip() and "{" not in summary
    names = list(_names(rule))
    assert names
    missing = [name for name in names if name.lower() not in summary.lower()]
    assert not missing, f"{summary!r} does not name {missing}"


def test_the_quote_follow_up_rule_names_this_quote() -> None:
    builtin = next(b for b in BUILTINS if b.key == "quoted_not_converted")
    summary = describe(parse_rule(builtin.build({"days": 7})))
    assert "more than 7 days ago" in summary and "no job where Created is after the quote's sent" in summary


def test_the_segments_list_shows_each_rule_in_words(sales_client: FlaskClient, session: Session) -> None:
    install_builtin_segments(session)
    session.flush()
    text = sales_client.get("/segments").get_data(as_text=True)
    for builtin in BUILTINS:
        sentence = describe(parse_rule(builtin.build(builtin.defaults)))
        assert sentence.replace("'", "&#39;") in text, builtin.key

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import Tag
from crm_segments.records.validation import validate
from crm_segments.schemas.tags import TagIn
from crm_segments.tagging.names import clean_tag_name, get_or_create_tag, get_or_create_tags
from tests.factories import UserFactory


def test_names_are_trimmed_and_inner_whitespace_collapsed() -> None:
    assert clean_tag_name("  VIP \t  customer \n") == "VIP customer"


@pytest.mark.parametrize(("name", "message"), [
    ("", "cannot be empty"),
    ("   \t ", "cannot be empty"),
    ("x" * 65, "at most 64 characters (this one has 65)"),
    ("a,b", "',' not allowed"),
    ("<script>", "'<>' not allowed"),
    ("tab\x00zero", "not allowed"),
])
def test_invalid_names_are_refused_naming_the_field(name: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        clean_tag_name(name, field="tag")
    assert caught.value.errors[0].field == "tag"
    assert message in caught.value.errors[0].message


def test_unicode_letters_digits_and_some_punctuation_are_allowed() -> None:
    assert clean_tag_name("Küche & Bad 2024 - Q1/Q2 (München)") == "Küche & Bad 2024 - Q1/Q2 (München)"
    assert clean_tag_name("x" * 64) == "x" * 64


def test_a_name_that_is_not_text_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="name: must be a text value"):
        clean_tag_name(42)


def test_colors_must_be_hex() -> None:
    assert validate(TagIn, {"name": "a", "color": "#2563EB"}).color == "#2563eb"
    with pytest.raises(ValidationFailed, match="color: must be a colour like #2563eb"):
        validate(TagIn, {"name": "a", "color": "blue"})


def test_get_or_create_is_case_insensitive(session: Session) -> None:
    user = UserFactory()
    tag, created = get_or_create_tag(session=session, name=" VIP  Customer ", created_by_id=user.id)
    assert created and tag.name == "VIP Customer" and tag.name_key == "vip customer"
    assert tag.created_by_id == user.id
    again, created_again = get_or_create_tag(session=session, name="vip customer")
    assert again.id == tag.id and not created_again
    assert session.scalar(select(func.count()).select_from(Tag)) == 1


def test_the_database_refuses_two_tags_differing_only_in_case(session: Session) -> None:
    from sqlalchemy.exc import IntegrityError

    session.add(Tag(name="Gold", name_key="gold"))
    session.flush()
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(Tag(name="GOLD", name_key="gold"))
        session.flush()


def test_several_names_are_all_checked_before_any_is_created(session: Session) -> None:
    with pytest.raises(ValidationFailed) as caught:
        get_or_create_tags(session=session, names=["good", "", "bad,name"])
    assert [e.field for e in caught.value.errors] == ["tags[1]", "tags[2]"]
    assert session.scalar(select(func.count()).select_from(Tag)) == 0
    tags = get_or_create_tags(session=session, names=["Alpha", "alpha", "Beta"])
    assert [t.name for t in tags] == ["Alpha", "Beta"]

"""The profiles list: prefix search, region and lifecycle filters, keyset pagination."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from crm_segments.kernel.errors import ValidationFailed
from crm_segments.models import Profile, Segment, SegmentMember
from crm_segments.profiles import queries as profile_queries
from tests.factories import ProfileFactory, ProfileTagFactory, TagFactory
from tests.web.profile_lists import filtered_profile_ids_select, list_profiles


@pytest.fixture
def people(session: Session) -> dict[str, Profile]:
    rows = {
        "ada": ProfileFactory(first_name="Ada", last_name="Lovelace", email="ada@analytical.example",
                              company="Analytical Engines", region="North", lifecycle_status="customer"),
        "alan": ProfileFactory(first_name="Alan", last_name="Turing", email="alan.t@bletchley.example",
                               company="Bletchley Park", region="South", lifecycle_status="lead"),
        "grace": ProfileFactory(first_name="Grace", last_name="Hopper", email="grace@navy.example",
                                company="ACME Corp", region="North", lifecycle_status="prospect"),
        "smith": ProfileFactory(first_name="Jane", last_name="Smith", email="JSmith@Example.com",
                                company="Smithson & Co", region="East", lifecycle_status="customer"),
        "mith": ProfileFactory(first_name="Mithra", last_name="Odd", email="m%_x@odd.example",
                               company=None, region=None, lifecycle_status="churned"),
    }
    return rows


def _search(session: Session, **filters: str) -> set[str]:
    page = list_profiles(session=session, limit=200, **filters)
    return {p.email or "" for p in page.rows}


def _emails(people: dict[str, Profile], *keys: str) -> set[str]:
    return {people[k].email or "" for k in keys}


@pytest.mark.parametrize(("q", "expected"), [
    ("lovelace", ["ada"]),           # last name, any case
    ("LOVE", ["ada"]),
    ("ada", ["ada"]),                # first name and email
    ("alan.t@", ["alan"]),           # email prefix
    ("jsmith@example.com", ["smith"]),
    ("smith", ["smith"]),            # last name and company prefix
    ("acme", ["grace"]),             # company stored in capitals
    ("bletchley park", ["alan"]),    # several words against one field
    ("grace hopper", ["grace"]),     # first name + last name
    ("mith", ["mith"]),              # prefix of Mithra, not the middle of Smith
    ("m%_", ["mith"]),               # LIKE wildcards are matched literally
    ("%", []),
    ("_", []),
    ("zzz", []),
])
def test_search_matches_word_prefixes(session: Session, people: dict[str, Profile], q: str,
                                      expected: list[str]) -> None:
    assert _search(session, q=q) == _emails(people, *expected)


def test_filters_by_region_lifecycle_and_search_together(session: Session,
                                                         people: dict[str, Profile]) -> None:
    assert _search(session, region="North") == _emails(people, "ada", "grace")
    assert _search(session, lifecycle="customer") == _emails(people, "ada", "smith")
    assert _search(session, region="North", lifecycle="customer") == _emails(people, "ada")
    assert _search(session, region="North", q="grace") == _emails(people, "grace")
    assert _search(session, region="North", q="smith") == set()
    assert _search(session, region="Nowhere") == set()


def test_bad_filters_are_refused_naming_the_field(session: Session) -> None:
    with pytest.raises(ValidationFailed, match="lifecycle: must be one of"):
        list_profiles(session=session, lifecycle="zombie")
    with pytest.raises(ValidationFailed, match="q: search text is longer"):
        list_profiles(session=session, q="x" * 101)
    with pytest.raises(ValidationFailed, match="limit"):
        list_profiles(session=session, limit=0)
    with pytest.raises(ValidationFailed, match="either after or before"):
        list_profiles(session=session, after=1, before=5)


def test_keyset_pages_walk_forward_and_back_without_gaps(session: Session) -> None:
    made = [ProfileFactory(region="West" if i % 3 else "Elsewhere").id for i in range(11)]
    west = [pid for i, pid in enumerate(made) if i % 3]  # 7 profiles, ids not contiguous

    pages, after = [], None
    while True:
        page = list_profiles(session=session, region="West", after=after, limit=3)
        pages.append([p.id for p in page.rows])
        if page.next_after is None:
            break
        after = page.next_after
    assert pages == [west[0:3], west[3:6], west[6:7]]

    first = list_profiles(session=session, region="West", limit=3)
    assert first.prev_before is None
    last = list_profiles(session=session, region="West", after=west[5], limit=3)
    assert last.next_after is None and last.prev_before == west[6]
    back = list_profiles(session=session, region="West", before=last.prev_before, limit=3)
    assert [p.id for p in back.rows] == west[3:6]
    assert back.prev_before == west[3] and back.next_after == west[5]
    start = list_profiles(session=session, region="West", before=west[3], limit=3)
    assert [p.id for p in start.rows] == west[0:3]
    assert start.prev_before is None  # the first page has no previous page


def test_ids_select_has_the_same_members_as_the_list(session: Session, people: dict[str, Profile]) -> None:
    for filters in ({"region": "North"}, {"q": "smith"}, {"lifecycle": "customer", "q": "a"}, {}):
        listed = {p.id for p in list_profiles(session=session, limit=200, **filters).rows}
        selected = set(session.scalars(filtered_profile_ids_select(**filters)))
        assert selected == listed
    assert set(session.scalars(filtered_profile_ids_select(region="North"))) == {
        people["ada"].id, people["grace"].id}
    with pytest.raises(ValidationFailed, match="lifecycle"):
        filtered_profile_ids_select(lifecycle="zombie")


def test_region_options_are_the_distinct_regions(session: Session, people: dict[str, Profile]) -> None:
    ProfileFactory(region="North")
    assert profile_queries.distinct_regions(session=session) == ["East", "North", "South"]


def test_search_uses_indexes(session: Session, people: dict[str, Profile]) -> None:
    query = filtered_profile_ids_select(q="smith")
    compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    if session.get_bind().dialect.name == "sqlite":
        plan = " ".join(str(row[-1]) for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
        assert "SCAN crm_profiles" not in plan, plan
    else:
        session.execute(text("SET LOCAL enable_seqscan = off"))  # tiny tables would be scanned anyway
        plan = " ".join(row[0] for row in session.execute(text(f"EXPLAIN {compiled}")))
        assert "Seq Scan" not in plan, plan
    for index in ("email", "last_name", "first_name", "company"):
        assert f"ix_crm_profiles_{index}" in plan, plan


# --- the page ---------------------------------------------------------------------------------

def _names_on(page: str) -> list[str]:
    return re.findall(r'<a href="/profiles/\d+">([^<]+)</a>', page)


def test_list_page_shows_matches_with_tags_and_filters(sales_client: FlaskClient,
                                                        people: dict[str, Profile]) -> None:
    ProfileTagFactory(profile=people["ada"], tag=TagFactory(name="VIP", color="#fde047"))
    page = sales_client.get("/profiles?q=lov&region=North").get_data(as_text=True)
    assert _names_on(page) == ["Ada Lovelace"]
    assert ">VIP</span>" in page and 'data-tag-color="#fde047" data-tag-text="#111827"' in page
    assert '<option value="North" selected>' in page
    assert 'value="lov"' in page


def test_list_page_refuses_bad_input_with_the_field_named(sales_client: FlaskClient) -> None:
    response = sales_client.get("/profiles?lifecycle=zombie")
    assert response.status_code == 400
    assert "lifecycle: must be one of" in response.get_data(as_text=True)
    response = sales_client.get("/profiles?after=abc")
    assert response.status_code == 400
    assert "after: must be a profile id" in response.get_data(as_text=True)


def test_list_page_links_keep_the_filter_across_pages(app: Flask, sales_client: FlaskClient,
                                                       session: Session) -> None:
    app.config["CRM_SEGMENTS_PAGE_SIZE"] = 2
    for i in range(5):
        ProfileFactory(last_name=f"Pager{i}", region="Paged")
    ProfileFactory(last_name="Pager-other", region="Elsewhere")
    seen: list[str] = []
    url: str | None = "/profiles?region=Paged"
    while url:
        page = sales_client.get(url).get_data(as_text=True)
        seen += _names_on(page)
        match = re.search(r'rel="next" href="([^"]+)"', page)
        url = match.group(1).replace("&amp;", "&") if match else None
        if url:
            assert "region=Paged" in url
    assert [n.split()[-1] for n in seen] == [f"Pager{i}" for i in range(5)]
    assert 'rel="prev"' in page


@pytest.mark.parametrize(("text", "head", "spellings"), [
    ("ab", "ab", ["AB", "Ab", "aB", "ab"]),
    ("smithers", "smit", None),         # the index lookup stops before the fifth letter
    ("jo.hn@x", "jo.hn@", None),        # punctuation has no case and costs nothing
    ("acme 12", "acme 12", None),
    ("12-3", "12-3", ["12-3"]),
])
def test_indexed_head_and_its_case_spellings(text: str, head: str, spellings: list[str] | None) -> None:
    assert profile_queries.indexed_head(text) == head
    combos = profile_queries.case_combinations(head)
    assert len(combos) == 2 ** sum(c.isalpha() for c in head) <= 16
    if spellings is not None:
        assert combos == spellings


def _static_list(session: Session, name: str, *members: Profile) -> Segment:
    segment = Segment(name=name, kind="static")
    session.add(segment)
    session.flush()
    session.add_all(SegmentMember(segment_id=segment.id, profile_id=p.id) for p in members)
    session.flush()
    return segment


def test_filters_by_tag_in_any_case_and_by_segment(session: Session, people: dict[str, Profile]) -> None:
    vip = TagFactory(name="VIP")
    ProfileTagFactory(profile=people["ada"], tag=vip)
    ProfileTagFactory(profile=people["alan"], tag=vip)
    ProfileTagFactory(profile=people["grace"])  # another tag
    shortlist = _static_list(session, "Shortlist", people["alan"], people["smith"])

    assert _search(session, tag="vip") == _emails(people, "ada", "alan")
    assert _search(session, tag=" VIP ", region="North") == _emails(people, "ada")
    assert _search(session, tag="no such tag") == set()
    assert _search(session, segment=str(shortlist.id)) == _emails(people, "alan", "smith")
    assert _search(session, segment=str(shortlist.id), tag="VIP") == _emails(people, "alan")
    ids = set(session.scalars(filtered_profile_ids_select(tag="vip", segment=shortlist.id)))
    assert ids == {people["alan"].id}
    with pytest.raises(ValidationFailed, match="segment: must be a segment id"):
        list_profiles(session=session, segment="shortlist")


def test_list_page_offers_tag_and_segment_filters_and_the_bulk_bar_keeps_them(
        sales_client: FlaskClient, session: Session, people: dict[str, Profile]) -> None:
    ProfileTagFactory(profile=people["grace"], tag=TagFactory(name="Key account"))
    shortlist = _static_list(session, "Shortlist", people["grace"], people["ada"])
    page = sales_client.get(f"/profiles?tag=key+account&segment={shortlist.id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "grace@navy.example" in text and "ada@analytical.example" not in text
    assert '<option value="Key account" selected>' in text
    assert f'<option value="{shortlist.id}" selected>Shortlist</option>' in text
    assert '<input type="hidden" name="tag" value="key account">' in text
    assert f'<input type="hidden" name="segment" value="{shortlist.id}">' in text
    refused = sales_client.get("/profiles?segment=abc")
    assert refused.status_code == 400 and "segment: must be a segment id" in refused.get_data(as_text=True)

"""Chart geometry: one point per day, single days drawn as a dot, sparklines; the segment page's chart
from the first refresh and its acquisition sources."""

from __future__ import annotations

import datetime as dt
import re

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from crm_segments.db import utcnow
from crm_segments.models import SegmentSizePoint
from crm_segments.segments.daily_sizes import daily_sizes, filled_days
from crm_segments.web.ui.common.charts import Series, line_chart, nice_top, sparkline
from tests.factories import ProfileFactory
from tests.workflows.helpers import enter, make_segment

DAY = dt.date(2030, 3, 1)


def test_nice_top_rounds_up_to_1_2_5() -> None:
    assert [nice_top(v) for v in (0, 1, 3, 7, 12, 200, 201)] == [1, 1, 5, 10, 20, 200, 500]


def test_a_single_day_is_one_dot_in_the_middle() -> None:
    chart = line_chart([DAY], [Series("Members", "size", [42])], zero_based=False)
    assert chart is not None
    (x, _, value), = chart.lines[0].dots
    assert value == 42 and x == (chart.x_left + chart.x_right) / 2


def test_days_are_evenly_spaced_and_zero_sits_on_the_axis() -> None:
    days = [DAY + dt.timedelta(days=i) for i in range(3)]
    chart = line_chart(days, [Series("Sent", "sent", [0, 5, 10])])
    assert chart is not None
    xs = [x for x, _, _ in chart.lines[0].dots]
    assert xs[1] - xs[0] == xs[2] - xs[1] > 0
    assert chart.lines[0].dots[0][1] == chart.y_low and chart.lines[0].dots[2][1] == chart.y_top
    assert chart.rows()[1] == (days[1], [5])


def test_sparkline_keeps_first_and_last_values() -> None:
    line = sparkline([3, 1, 7])
    assert line is not None and line.change == 4 and line.days == 3
    assert sparkline([]) is None


def test_two_measurements_of_a_day_make_one_point_the_later_one(session: Session) -> None:
    segment = make_segment(session)
    morning = dt.datetime(2030, 3, 1, 8, tzinfo=dt.UTC)
    for at, size in ((morning, 10), (morning.replace(hour=20), 50), (morning + dt.timedelta(days=2), 40)):
        session.add(SegmentSizePoint(segment_id=segment.id, measured_at=at, size=size))
    session.flush()
    sizes = daily_sizes(session, since=morning - dt.timedelta(days=1))[segment.id]
    assert sizes == {DAY: 50, DAY + dt.timedelta(days=2): 40}
    days, values = filled_days(sizes, until=DAY + dt.timedelta(days=3))
    assert values == [50, 50, 40, 40] and days[0] == DAY  # the missing day carries the size forward


def test_segment_page_draws_the_chart_after_one_refresh(sales_client: FlaskClient, session: Session) -> None:
    segment = make_segment(session, name="Once")
    now = utcnow()
    segment.member_count, segment.last_refreshed_at = 7, now
    session.add(SegmentSizePoint(segment_id=segment.id, measured_at=now, size=7))
    session.flush()
    page = sales_client.get(f"/segments/{segment.id}").get_data(as_text=True)
    assert 'id="size-chart"' in page and 'role="img"' in page and "<desc" in page
    assert re.search(r'<circle class="dot"[^>]*><title>[\d-]+: 7 members</title>', page)
    assert "Members per day as a table" in page


def test_segment_page_compares_acquisition_sources_with_the_base(sales_client: FlaskClient,
                                                                 session: Session) -> None:
    segment = make_segment(session, name="Best")
    members = [ProfileFactory(acquisition_source="referral") for _ in range(3)]
    members.append(ProfileFactory(acquisition_source="ads"))
    for _ in range(4):
        ProfileFactory(acquisition_source="ads")
    enter(session, segment, *members, at=utcnow())
    segment.member_count = 4
    session.flush()
    page = sales_client.get(f"/segments/{segment.id}").get_data(as_text=True)
    table = page[page.index('id="acquisition-table"'):]
    referral = re.search(r'<th scope="row" class="cell-wrap">referral</th>(.*?)</tr>', table, re.S)
    ads = re.search(r'<th scope="row" class="cell-wrap">ads</th>(.*?)</tr>', table, re.S)
    assert referral and ads
    # referral: 3 of 4 members (75.0%) against 3 of 8 profiles (37.5%): index 200
    assert "75.0%" in referral.group(1) and "37.5%" in referral.group(1) and ">200<" in referral.group(1)
    assert "25.0%" in ads.group(1) and "62.5%" in ads.group(1) and ">40<" in ads.group(1)

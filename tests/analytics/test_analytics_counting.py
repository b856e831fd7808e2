"""The counting rules, tested on the library and on small frames: visitors and visits, bots by
their behaviour, repair requests, the report period and the period before it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from analytics import aggregate, analyse
from analytics.aggregate import COUNT_COLUMNS, build_stats, report_period
from analytics.classify import MAX_REQUESTS_PER_DAY, bot_reasons
from analytics.days import day_number

TZ = dt.timezone(dt.timedelta(hours=2))
MORNING = dt.datetime(2026, 10, 21, 10, 0, tzinfo=TZ)


def at(minutes: float) -> dt.datetime:
    return MORNING + dt.timedelta(minutes=minutes)


@pytest.fixture
def stats_of(write_log):
    """The statistics of a log of these lines, from the library."""
    return lambda lines: analyse([write_log(lines)])


@pytest.fixture
def view(line):
    """A pageview of / (or `request`) `minutes` after 10:00 on 21 October."""
    return lambda minutes, **fields: line(when=at(minutes), **fields)


@pytest.fixture
def post(line):
    """A repair request `minutes` after 10:00, answered `status`."""

    def request(minutes: float, status: int = 303, **fields) -> str:
        return line(when=at(minutes), request="POST /api/repair-request HTTP/1.1", status=status,
                    **fields)  # fmt: skip

    return request


@pytest.mark.parametrize(("gap_minutes", "visits"), [(29, 1), (30, 1), (31, 2)])
def test_a_visit_ends_after_30_minutes_idle(stats_of, view, gap_minutes, visits):
    stats = stats_of([view(0), view(gap_minutes, request="GET /contact/ HTTP/1.1")])
    assert (stats["visitors"], stats["visits"], stats["pageviews"]) == (1, visits, 2)


def test_a_visitor_is_an_address_and_user_agent_on_one_day(stats_of, view, agents):
    stats = stats_of(
        [
            view(0),
            view(1, ua=agents.firefox),  # same address, another browser: another visitor
            view(2, ip="192.0.2.11"),  # same /24, another address: another one
            view(24 * 60, request="GET /contact/ HTTP/1.1"),  # the next day
        ]
    )
    assert stats["visitors"] == 4
    assert [d["visitors"] for d in stats["daily"]] == [3, 1]


def test_assets_are_requests_not_pageviews(stats_of, view):
    stats = stats_of([view(0), view(0.1, request="GET /theme/css/x.css HTTP/1.1")])
    assert (stats["requests"], stats["pageviews"]) == (2, 1)


@pytest.mark.parametrize(
    ("other_request", "reason"),
    [
        ("GET /robots.txt HTTP/1.1", "(fetched robots.txt)"),
        ("GET /wp-login.php HTTP/1.1", "(vulnerability probes)"),
    ],
)
def test_a_visitor_that_behaves_like_a_bot_is_one_all_day(stats_of, view, other_request, reason):
    """Every request of the day's visitor key counts as a bot's, the pages before it too."""
    stats = stats_of([view(0), view(60, request=other_request), view(61)])
    assert (stats["pageviews"], stats["visitors"], stats["bots"]) == (0, 0, 3)
    assert stats["tables"]["bots"]["rows"] == [{"key": reason, "count": 3}]


def test_too_many_requests_a_day_make_a_bot(stats_of, view):
    busy = [view(i / 10) for i in range(MAX_REQUESTS_PER_DAY + 1)]
    calm = [view(i, ip="198.51.100.1") for i in range(MAX_REQUESTS_PER_DAY)]
    stats = stats_of(busy + calm)
    assert stats["bots"] == MAX_REQUESTS_PER_DAY + 1
    assert stats["pageviews"] == MAX_REQUESTS_PER_DAY


def test_bot_reasons_name_the_list_first_then_behaviour():
    listed = np.array(["Googlebot", "", "", "", ""], dtype=object)
    robots = np.array([True, True, False, False, False])
    probe = np.array([False, False, True, False, False])
    requests = np.array([1, 1, 1, MAX_REQUESTS_PER_DAY + 1, MAX_REQUESTS_PER_DAY])
    assert bot_reasons(listed, robots, probe, requests).tolist() == [
        "Googlebot",
        "(fetched robots.txt)",
        "(vulnerability probes)",
        f"(over {MAX_REQUESTS_PER_DAY} requests a day)",
        "",
    ]


def test_a_listed_bot_is_no_visitor(stats_of, view, agents):
    stats = stats_of([view(0, ua=agents.googlebot), view(1)])
    assert (stats["visitors"], stats["bots"]) == (1, 1)
    assert stats["tables"]["bots"]["rows"][0]["key"] == "Googlebot"


@pytest.mark.parametrize(
    ("events", "conversions", "requests"),
    [
        ([("view", 0), ("post", 1)], 1, 1),
        ([("view", 0), ("post", 1), ("post", 2)], 1, 2),  # two requests, one visit
        ([("view", 0), ("post", 1, 422)], 0, 0),  # refused: no request
        ([("post", 0), ("view", 1)], 1, 1),  # the handler's clock a little ahead
        ([("view", 0), ("post", 1, 303, "firefox")], 0, 0),  # another visitor: no visit of its own
    ],
)
def test_a_conversion_is_a_visit_with_an_accepted_request(
    stats_of, view, post, agents, events, conversions, requests
):
    lines = []
    for kind, minutes, *answer in events:
        if kind == "view":
            lines.append(view(minutes))
        else:
            status, *browser = answer or [303]
            ua = getattr(agents, browser[0]) if browser else agents.chrome
            lines.append(post(minutes, status, ua=ua))
    stats = stats_of(lines)
    assert (stats["conversions"], stats["conversion_requests"]) == (conversions, requests)


def frame(rows: list[tuple]) -> pd.DataFrame:
    """A counts per-day frame from (day, table, key, count) rows."""
    return pd.DataFrame([(*row, 0) for row in rows], columns=COUNT_COLUMNS)


DAY = day_number(dt.date(2026, 10, 21))
FIVE_DAYS = frame([(DAY + i, "_visits", "visits", 10 * (i + 1)) for i in range(5)])


@pytest.mark.parametrize(
    ("since", "until", "window", "period"),
    [
        (None, None, None, (DAY, DAY + 4)),  # every day read
        (None, None, 3, (DAY + 2, DAY + 4)),  # --state: the last `window` days
        (None, None, 30, (DAY, DAY + 4)),  # ...but no day before the first one counted
        (dt.date(2026, 10, 22), None, 3, (DAY + 1, DAY + 4)),  # --since wins over the window
        (None, dt.date(2026, 10, 23), None, (DAY, DAY + 2)),
    ],
)
def test_report_period(since, until, window, period):
    assert report_period(FIVE_DAYS, since, until, window_days=window) == period


def test_report_period_of_nothing_counted():
    assert report_period(frame([])) == (None, None)
    assert report_period(frame([]), since=dt.date(2026, 10, 21)) == (DAY, DAY)


def test_the_period_before_is_as_long_and_right_before():
    stats = build_stats(FIVE_DAYS, settings={}, start=DAY + 3, end=DAY + 4)
    assert stats["visits"] == 40 + 50
    assert stats["previous"] == {
        "start": "2026-10-22",
        "end": "2026-10-23",
        "pageviews": 0,
        "visitors": 0,
        "visits": 20 + 30,
        "conversions": 0,
    }


def test_no_period_before_without_counts_in_it():
    assert build_stats(FIVE_DAYS, settings={}, start=DAY, end=DAY + 4)["previous"] is None


def test_a_conversion_rate_is_a_share_of_visits():
    counts = frame(
        [
            (DAY, "_visits", "visits", 8),
            (DAY, "_visits", "conversions", 2),
            (DAY, "sources", "Google", 4),
            (DAY, "conversion_sources", "Google", 1),
        ]
    )
    stats = build_stats(counts, settings={})
    assert stats["conversion_rate"] == 0.25
    assert stats["tables"]["conversion_sources"]["rows"] == [
        {"key": "Google", "count": 1, "visits": 4}
    ]


def test_days_counted_in_batches_count_the_same(sample_log, monkeypatch):
    """A long log's pageviews are counted a few days at a time, a busy day's a piece of its
    visitors at a time: the statistics are those of one batch."""
    whole = analyse([sample_log])
    monkeypatch.setattr(aggregate, "DAY_BATCH_ROWS", 500)
    batched = analyse([sample_log])
    for stats in (whole, batched):
        stats.pop("generated")
    assert batched == whole
    assert whole["pageviews"] > 7 * 2 * 500  # so every day came in pieces


def test_a_day_too_big_for_a_batch_comes_in_pieces(monkeypatch):
    monkeypatch.setattr(aggregate, "DAY_BATCH_ROWS", 100)
    day = np.repeat([1, 2, 3, 4], [30, 250, 60, 20])
    assert aggregate._view_batches(day) == [
        ([1], 1, 0), ([2], 3, 0), ([2], 3, 1), ([2], 3, 2), ([3, 4], 1, 0)
    ]  # fmt: skip

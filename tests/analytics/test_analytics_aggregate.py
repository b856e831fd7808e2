"""Counting: pageviews, visits (30 minutes idle), bounces, bots by behaviour, visitors per day."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from analytics import aggregate
from analytics.aggregate import EVENT_COLUMNS, EventStore, KeyStore

TZ = dt.timezone(dt.timedelta(hours=2))


def at(hour: int, minute: int = 0, day: int = 21) -> dt.datetime:
    return dt.datetime(2026, 10, day, hour, minute, tzinfo=TZ)


def test_visits_bounces_entry_exit(write_log, report, line, rows):
    log = write_log(
        [
            line("192.0.2.1", at(10, 0), "GET /?utm_source=flyer HTTP/1.1",
                 referrer="https://www.google.com/search?q=x"),
            line("192.0.2.1", at(10, 10), "GET /diensten/ HTTP/1.1"),
            line("192.0.2.1", at(10, 10), "GET /theme/css/style.css HTTP/1.1"),
            line("192.0.2.1", at(10, 50), "GET /contact/ HTTP/1.1"),  # 40 min idle: new visit
            line("198.51.100.4", at(11, 0), "GET /contact/ HTTP/1.1"),
            line("198.51.100.4", at(11, 1), "POST /api/repair-request HTTP/1.1", status=303),
            line("198.51.100.4", at(11, 2), "GET /missing/ HTTP/1.1", status=404),
        ]
    )  # fmt: skip
    result, stats = report(log)
    assert result.exit_code == 0, result.output
    assert (stats["requests"], stats["pageviews"], stats["visits"], stats["visitors"]) == (
        7,
        4,
        3,
        2,
    )
    assert stats["bounce_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert stats["pages_per_visit"] == pytest.approx(4 / 3, abs=0.01)
    assert stats["avg_visit_seconds"] == pytest.approx(600 / 3, abs=0.1)
    assert rows(stats, "entry_pages") == {"/": 1, "/contact/": 2}
    assert rows(stats, "exit_pages") == {"/diensten/": 1, "/contact/": 2}
    assert rows(stats, "pages") == {"/": 1, "/diensten/": 1, "/contact/": 2}
    assert rows(stats, "search_engines") == {"Google": 1}
    assert rows(stats, "campaigns") == {"flyer": 1}
    assert rows(stats, "status_codes") == {"200": 5, "303": 1, "404": 1}
    assert rows(stats, "not_found") == {"/missing/": 1}
    assert stats["not_found"] == 1
    assert stats["tables"]["hours"]["rows"][10] == {"key": "10", "count": 3}


def test_bots_by_name_and_behaviour(write_log, report, line, rows, agents):
    lines = [line("192.0.2.1", at(9), "GET / HTTP/1.1", ua=agents.googlebot)]
    lines += [line("192.0.2.2", at(9), "GET /robots.txt HTTP/1.1"),
              line("192.0.2.2", at(9, 1), "GET / HTTP/1.1")]  # fmt: skip
    lines += [line("192.0.2.3", at(9), "GET /wp-login.php HTTP/1.1", status=404),
              line("192.0.2.3", at(9, 1), "GET / HTTP/1.1")]  # fmt: skip
    lines += [line("192.0.2.4", at(10, i % 60), "GET / HTTP/1.1") for i in range(151)]
    lines += [line("192.0.2.5", at(9), "GET / HTTP/1.1", ua="-")]
    lines += [line("192.0.2.6", at(9), "GET / HTTP/1.1")]  # the one human
    lines += [line("192.0.2.7", at(9), "-", status=400, size=0, ua="-")]
    result, stats = report(write_log(lines))
    assert result.exit_code == 0, result.output
    assert stats["requests"] == len(lines)
    assert stats["pageviews"] == 1 and stats["visitors"] == 1
    assert stats["bots"] == len(lines) - 1
    bots = rows(stats, "bots")
    assert bots["(fetched robots.txt)"] == 2
    assert bots["(vulnerability probes)"] == 2
    assert bots["(over 150 requests a day)"] == 151
    assert bots["(no user agent)"] == 2
    assert bots["Googlebot"] == 1


def test_visitors_are_counted_per_day_and_summed(write_log, report, line):
    log = write_log(
        [line("192.0.2.1", at(10, 0, day=21)), line("192.0.2.1", at(12, 0, day=21)),
         line("192.0.2.1", at(10, 0, day=22))]
    )  # fmt: skip
    _, stats = report(log)
    assert stats["visitors"] == 2
    assert [(d["date"], d["visitors"], d["visits"]) for d in stats["daily"]] == [
        ("2026-10-21", 1, 2),
        ("2026-10-22", 1, 1),
    ]
    assert stats["monthly"] == [{"month": "2026-10", "pageviews": 3, "visitors": 2, "visits": 3}]


def test_since_until_and_previous_period(write_log, report, line):
    log = write_log([line("192.0.2.1", at(10, 0, day=d)) for d in (18, 19, 20, 21, 22)])
    _, stats = report(log, "--since", "2026-10-21", "--until", "2026-10-22")
    assert stats["period"] == {"start": "2026-10-21", "end": "2026-10-22", "days": 2}
    assert stats["pageviews"] == 2
    assert stats["previous"] == {
        "start": "2026-10-19",
        "end": "2026-10-20",
        "pageviews": 2,
        "visitors": 2,
        "visits": 2,
        "conversions": 0,
    }


def test_tables_have_the_agreed_shape(sample_log, report):
    result, stats = report(sample_log)
    assert result.exit_code == 0, result.output
    assert set(stats["tables"]) == {
        "pages", "entry_pages", "exit_pages", "referrers", "search_engines", "social",
        "campaigns", "countries", "browsers", "os", "devices", "hours", "status_codes",
        "not_found", "bots", "sources", "conversion_sources", "conversion_entry_pages",
    }  # fmt: skip
    for name, t in stats["tables"].items():
        counts = [r["count"] for r in t["rows"]]
        assert all(isinstance(c, int) for c in counts)
        if name == "hours":
            assert [r["key"] for r in t["rows"]] == [f"{h:02d}" for h in range(24)]
        else:
            assert counts == sorted(counts, reverse=True) and len(counts) <= 50
    assert sum(r["count"] for r in stats["tables"]["hours"]["rows"]) == stats["pageviews"]
    assert sum(d["requests"] for d in stats["daily"]) == stats["requests"]
    assert stats["requests"] + stats["malformed"] == 20_000
    assert stats["total_requests"] == 20_000 and stats["valid_requests"] == stats["requests"]
    assert 0 < stats["pageviews"] < stats["requests"] and stats["bots"] > 0
    assert 0 < stats["conversions"] <= stats["form_visits"] <= stats["visits"]
    assert sum(r["count"] for r in stats["tables"]["sources"]["rows"]) <= stats["visits"]


def test_event_store_gives_a_column_whole_or_in_pieces(monkeypatch):
    """Finishing reads the visitor column in pieces (memory stays flat in the log's size):
    the pieces are the whole column, in order, whatever the piece size."""
    monkeypatch.setattr(EventStore, "COPY_ROWS", 7)
    store = EventStore()
    rng = np.random.default_rng(1)
    for n in (5, 11, 0, 9):
        store.append({c: rng.integers(0, 1000, n) for c in EVENT_COLUMNS})
    visitor = store.column("visitor")
    pieces = list(store.chunks("visitor"))
    assert len(visitor) == 25 and [len(p) for p in pieces] == [7, 7, 7, 4]
    np.testing.assert_array_equal(np.concatenate(pieces), visitor)
    store.close()


def test_event_store_gives_the_kept_rows_of_several_columns():
    """A batch's rows of every column, read from the stretch of the files that holds them."""
    store = EventStore()
    rng = np.random.default_rng(3)
    for n in (40, 25):
        store.append({c: rng.integers(0, 1000, n) for c in EVENT_COLUMNS})
    whole = {c: store.column(c) for c in EVENT_COLUMNS}
    masks = [np.zeros(65, bool), np.arange(65) == 0, np.arange(65) == 64, rng.random(65) < 0.3]
    for keep in masks:
        kept = store.columns(EVENT_COLUMNS, keep)
        for c in EVENT_COLUMNS:
            np.testing.assert_array_equal(kept[c], whole[c][keep])
            assert kept[c].dtype == whole[c].dtype
    store.close()


def test_visitor_keys_combined_a_batch_of_days_at_a_time_are_the_same(monkeypatch):
    """Keys wait on disk and are combined whole days at a time: the same keys, with the same
    requests, flags and agent, as combining them all at once."""
    rng = np.random.default_rng(2)

    def part(n):
        day = rng.integers(20000, 20010, n).astype(np.int32)
        visitor = day.astype(np.int64) * 1000 + rng.integers(0, 50, n)  # a key is one day's
        return {
            "day": day,
            "visitor": visitor,
            "requests": rng.integers(1, 5, n).astype(np.int32),
            "robots": rng.random(n) < 0.1,
            "probe": rng.random(n) < 0.1,
            "agent": (visitor % 7).astype(np.int32),  # the same for all of a key's rows
        }

    parts = [part(n) for n in (300, 0, 450, 120)]
    whole = aggregate.combine_keys(parts)
    store = KeyStore()
    for p in parts:
        store.append(p)
    monkeypatch.setattr(aggregate, "DAY_BATCH_ROWS", 100)
    batches = list(store.batches())
    batched = aggregate.combine_keys(batches)  # a key is in one batch only: nothing to combine
    store.close()

    def rows(keys):
        return sorted(zip(*(keys[c].tolist() for c in aggregate.KEY_COLUMNS), strict=True))

    assert len(whole["visitor"]) == len(np.unique(whole["visitor"])) > 300
    assert len(batches) > 3 and sum(len(b["visitor"]) for b in batches) == len(whole["visitor"])
    assert rows(batched) == rows(whole)

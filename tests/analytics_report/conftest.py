"""Fixtures for the report tests: a hand-made stats dict shaped like the pipeline's output."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

PAGES = [
    ("/", 812, 640),
    ("/diensten/", 410, 350),
    ("/reparatie-aanvragen/", 305, 280),
    ("/contact/", 221, 200),
    ("/en/", 140, 120),
    ("/bedankt/", 31, 31),
    ("/privacy/", 22, 20),
]


def _rows(pairs, **extra_columns) -> list[dict]:
    rows = []
    for i, (key, count) in enumerate(pairs):
        row = {"key": key, "count": count}
        for column, values in extra_columns.items():
            row[column] = values[i]
        rows.append(row)
    return rows


def make_stats() -> dict:
    """Ten days across a month boundary, with a previous period and no GeoIP database."""
    start = dt.date(2026, 9, 25)
    daily = []
    for i in range(10):
        day = start + dt.timedelta(days=i)
        pageviews = 150 + 37 * (i % 4) - (40 if day.weekday() >= 5 else 0)
        visitors = pageviews * 6 // 10
        daily.append(
            {
                "date": day.isoformat(),
                "requests": pageviews * 5,
                "pageviews": pageviews,
                "visitors": visitors,
                "visits": visitors + 9,
                "bots": pageviews // 2,
            }
        )
    pageviews = sum(d["pageviews"] for d in daily)
    visitors = sum(d["visitors"] for d in daily)
    visits = sum(d["visits"] for d in daily)
    requests = sum(d["requests"] for d in daily)
    bots = sum(d["bots"] for d in daily)
    months = {}
    for d in daily:
        m = months.setdefault(d["date"][:7], {"pageviews": 0, "visitors": 0, "visits": 0})
        for key in m:
            m[key] += d[key]
    hours = [
        (f"{h:02d}", [1, 0, 0, 0, 1, 2, 5, 20, 60, 90, 110, 120][h % 12] + h) for h in range(24)
    ]
    return {
        "generated": "2026-10-05T06:00:00+02:00",
        "period": {"start": daily[0]["date"], "end": daily[-1]["date"], "days": len(daily)},
        "settings": {
            "ipv4_prefix": 24,
            "ipv6_prefix": 32,
            "geoip": None,
            "geoip_attribution": None,
        },
        "requests": requests,
        "malformed": 3,
        "bots": bots,
        "pageviews": pageviews,
        "visitors": visitors,
        "visits": visits,
        "bounce_rate": 0.4321,
        "pages_per_visit": 1.87,
        "avg_visit_seconds": 95.4,
        "bandwidth": 123_456_789,
        "not_found": 77,
        "total_requests": requests + 3,
        "valid_requests": requests,
        "failed_requests": 3,
        "unique_visitors": visitors + 40,
        "daily": daily,
        "monthly": [{"month": month, **values} for month, values in months.items()],
        "previous": {
            "start": "2026-09-15",
            "end": "2026-09-24",
            "pageviews": pageviews - 200,
            "visitors": visitors + 50,
            "visits": visits,
        },
        "tables": {
            "pages": {
                "counts": "pageviews",
                "rows": _rows([(p, c) for p, c, _ in PAGES], visitors=[v for _, _, v in PAGES]),
            },
            "entry_pages": {
                "counts": "visits",
                "rows": _rows([("/", 700), ("/diensten/", 300), ("/contact/", 90)]),
            },
            "exit_pages": {
                "counts": "visits",
                "rows": _rows([("/", 500), ("/bedankt/", 31), ("/contact/", 150)]),
            },
            "referrers": {
                "counts": "visits",
                "rows": _rows(
                    [("google.com", 400), ("marktplaats.nl", 41), ("l.facebook.com", 25)]
                ),
            },
            "search_engines": {
                "counts": "visits",
                "rows": _rows([("Google", 450), ("Bing", 60), ("DuckDuckGo", 44)]),
            },
            "social": {"counts": "visits", "rows": _rows([("Facebook", 30), ("Instagram", 7)])},
            "campaigns": {
                "counts": "visits",
                "rows": _rows([("nieuwsbrief", 19), ("flyer", 4)]),
            },
            "countries": {"counts": "visits", "rows": []},
            "browsers": {
                "counts": "visits",
                "rows": _rows([("Chrome", 600), ("Safari", 300), ("Firefox", 90), ("Edge", 80)]),
            },
            "os": {
                "counts": "visits",
                "rows": _rows([("Windows", 500), ("Android", 300), ("iOS", 250), ("Mac OS X", 70)]),
            },
            "devices": {
                "counts": "visits",
                "rows": _rows([("desktop", 620), ("mobile", 420), ("tablet", 30)]),
            },
            "hours": {"counts": "pageviews", "rows": _rows(hours)},
            "status_codes": {
                "counts": "requests",
                "rows": _rows([("200", 7000), ("304", 900), ("404", 77), ("400", 2)]),
            },
            "not_found": {
                "counts": "requests",
                "rows": _rows([("/wp-login.php", 40), ("/.env", 30), ("/prijzen/", 7)]),
            },
            "bots": {
                "counts": "requests",
                "rows": _rows([("Googlebot", 500), ("bingbot", 200), ("curl", 40)]),
            },
        },
    }


@pytest.fixture(scope="session")
def stats_factory():
    """make_stats itself, for module-scoped fixtures."""
    return make_stats


@pytest.fixture
def stats() -> dict:
    return make_stats()


@pytest.fixture
def stats_with_geoip() -> dict:
    """The same stats as if read with DB-IP's country database."""
    from analytics.geoip import DBIP_ATTRIBUTION

    s = copy.deepcopy(make_stats())
    s["settings"]["geoip"] = "dbip-country-lite-2026-10.mmdb"
    s["settings"]["geoip_attribution"] = DBIP_ATTRIBUTION
    s["tables"]["countries"]["rows"] = _rows([("NL", 900), ("BE", 80), ("DE", 30), ("ZZ", 2)])
    return s

"""The owner's report: one HTML page with inline SVG charts and its stylesheet beside it (no
JavaScript, nothing from another origin, nothing inline that a CSP would block), Dutch or English."""

from __future__ import annotations

import datetime as dt
import functools
import os
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemBytecodeCache, PackageLoader, select_autoescape

from analytics import charts
from analytics.aggregate import DIRECT
from analytics.geoip import DBIP_DOWNLOAD
from analytics.texts import COUNTRIES, DEVICES, MONTHS, STATUS, TEXT, WEEKDAYS
from shop.files import write_whole
from shop.site import LANGUAGES, TIME_ZONE

LANGS = LANGUAGES
SHOP_TIMEZONE = ZoneInfo(TIME_ZONE)
TOP_ROWS = 10
STYLESHEET = "report.css"  # written beside index.html
# The top tables in page order: what people did first, then bots and errors in their own section.
AUDIENCE_TABLES = (
    "pages",
    "entry_pages",
    "exit_pages",
    "referrers",
    "search_engines",
    "social",
    "campaigns",
    "browsers",
    "os",
    "devices",
)
ROBOT_TABLES = ("status_codes", "not_found", "bots")
REQUEST_TABLES = ("conversion_sources", "conversion_entry_pages")


def write_report(stats: dict, out_dir: Path, lang: str) -> Path:
    """Write out_dir/index.html and its report.css from the stats dict; return the page's path.

    Links to stats.json, the CSVs and goaccess.html when they are already in out_dir,
    so write those first.
    """
    if lang not in LANGS:
        raise ValueError(f"language must be one of {', '.join(LANGS)}, got {lang!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html = render_report(stats, lang, present=set(os.listdir(out_dir)))
    write_whole(out_dir / STYLESHEET, render_stylesheet())
    return write_whole(out_dir / "index.html", html)


def render_stylesheet() -> str:
    """report.css: the page's look, with the chart colours of analytics.charts for its legend."""
    return (
        environment()
        .get_template(STYLESHEET)
        .render(
            pageviews_colour=charts.PAGEVIEWS_COLOUR,
            visitors_colour=charts.VISITORS_COLOUR,
        )
    )


def render_report(stats: dict, lang: str, present: set[str] = frozenset()) -> str:
    """The report page as a string; `present` names the files next to it that it may link to."""
    t = TEXT[lang]
    fmt = Formatter(lang)
    tables = stats.get("tables", {})
    context = {
        "lang": lang,
        "stylesheet": STYLESHEET,
        "t": t,
        "fmt": fmt,
        "period": _period(stats["period"], fmt, t),
        "generated": fmt.timestamp(stats.get("generated")),
        "headline": _headline(stats, fmt, t),
        "daily_chart": _daily_chart(stats.get("daily", []), fmt, t),
        "funnel": funnel_rows(stats, fmt, t),
        "request_tables": [_table(n, tables.get(n), fmt, t, present) for n in REQUEST_TABLES],
        "daily_rows": [
            (fmt.date(d["date"]), fmt.int(d["visitors"]), fmt.int(d["pageviews"]))
            for d in stats.get("daily", [])
        ],
        "months": [
            (
                fmt.month(m["month"]),
                fmt.int(m["visitors"]),
                fmt.int(m["pageviews"]),
                fmt.int(m["visits"]),
            )
            for m in stats.get("monthly", [])
        ]
        if len(stats.get("monthly", [])) > 1
        else [],
        "audience": [_table(n, tables.get(n), fmt, t, present) for n in AUDIENCE_TABLES],
        "robots": [_table(n, tables.get(n), fmt, t, present) for n in ROBOT_TABLES],
        "countries": _table("countries", tables.get("countries"), fmt, t, present),
        "hours": _hours(tables.get("hours"), fmt, t),
        "settings": stats.get("settings", {}),
        "dbip_download": DBIP_DOWNLOAD,
        "robot_numbers": [
            (t["requests"], fmt.int(stats.get("requests", 0))),
            (t["bot_requests"], fmt.int(stats.get("bots", 0))),
            (t["not_found_requests"], fmt.int(stats.get("not_found", 0))),
            (t["malformed"], fmt.int(stats.get("malformed", 0))),
            (t["bandwidth"], fmt.bytes(stats.get("bandwidth", 0))),
        ],
        "method": t["method"].format(**_prefixes(stats)),
        "downloads": [
            name for name in ("goaccess.html", "stats.json", "daily.csv") if name in present
        ],
    }
    return environment().get_template("report.html").render(context)


@functools.cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("analytics", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=_bytecode_cache(),
    )


def _bytecode_cache() -> FileSystemBytecodeCache | None:
    """Jinja's cache of compiled templates, in a private folder of the temporary directory:
    compiling the report's template took most of the time writing the report takes."""
    try:
        return FileSystemBytecodeCache()
    except (RuntimeError, OSError):  # no safe folder for it: compile every time
        return None


def _prefixes(stats: dict) -> dict:
    settings = stats.get("settings", {})
    return {"ipv4": settings.get("ipv4_prefix", 24), "ipv6": settings.get("ipv6_prefix", 32)}


def _period(period: dict, fmt: Formatter, t: dict) -> str:
    days = period.get("days") or 1
    length = t["one_day"] if days == 1 else t["days"].format(n=days)
    return f"{fmt.span(period['start'], period['end'], year=True)} ({length})"


def _headline(stats: dict, fmt: Formatter, t: dict) -> list[dict]:
    previous = stats.get("previous") or {}
    cards = []
    for key in ("visitors", "pageviews", "visits", "conversions"):
        value = stats.get(key, 0)
        change = compared(value, previous.get(key), fmt, t)
        if change:
            change["against"] = t["against"].format(
                span=fmt.span(previous["start"], previous["end"])
            )
        cards.append(
            {"label": t[key], "value": fmt.int(value), "help": t[f"{key}_help"], "change": change}
        )
    pages = fmt.decimal(stats.get("pages_per_visit", 0.0))
    cards += [
        {
            "label": t["bounce_rate"],
            "value": fmt.percent(stats.get("bounce_rate", 0.0)),
            "help": t["bounce_rate_help"],
        },
        {
            "label": t["visit_duration"],
            "value": fmt.duration(stats.get("avg_visit_seconds", 0.0)),
            "help": t["visit_duration_help"].format(pages=pages),
        },
    ]
    return cards


def funnel_rows(stats: dict, fmt: Formatter, t: dict) -> list[tuple[str, str, str]]:
    """Visits → visits that saw the form page → visits that sent it: (step, visits, share)."""
    visits = stats.get("visits", 0)
    steps = [
        (t["funnel_visits"], visits),
        (t["funnel_form"], stats.get("form_visits", 0)),
        (t["funnel_sent"], stats.get("conversions", 0)),
    ]
    return [(label, fmt.int(n), fmt.share(n, visits)) for label, n in steps]


def compared(now: int, before: int | None, fmt: Formatter, t: dict) -> dict | None:
    """The change from `before` to `now` as text and direction (None without a before)."""
    if before is None:
        return None
    if before == 0 and now:
        return {"text": t["new"], "direction": "up"}
    ratio = (now - before) / before if before else 0.0
    if round(ratio * 100) == 0:
        return {"text": "= 0%", "direction": "same"}
    arrow = "▲" if ratio > 0 else "▼"
    sign = "+" if ratio > 0 else "−"
    return {
        "text": f"{arrow} {sign}{fmt.percent(abs(ratio))}",
        "direction": "up" if ratio > 0 else "down",
    }


def _daily_chart(daily: list[dict], fmt: Formatter, t: dict) -> str | None:
    if not daily:
        return None
    return charts.daily_chart(
        [fmt.day_label(d["date"]) for d in daily],
        [d["pageviews"] for d in daily],
        [d["visitors"] for d in daily],
        title=t["daily_title"],
        pageviews_label=t["pageviews"],
        visitors_label=t["visitors"],
        number=fmt.int,
    )


def _hours(table: dict | None, fmt: Formatter, t: dict) -> dict | None:
    if not table or not table.get("rows"):
        return None
    counts = {f"{int(row['key']):02d}": row["count"] for row in table["rows"]}
    hours = [f"{h:02d}" for h in range(24)]
    values = [counts.get(h, 0) for h in hours]
    return {
        "chart": charts.bar_chart(
            hours, values, title=t["hours_title"], chart_id="hours", number=fmt.int
        ),
        "rows": [(f"{h}:00", fmt.int(v)) for h, v in zip(hours, values, strict=True)],
        "count_label": t["count_" + table.get("counts", "pageviews")],
    }


def _table(name: str, table: dict | None, fmt: Formatter, t: dict, present) -> dict:
    table = table or {"counts": "visits", "rows": []}
    rows = table.get("rows", [])
    top = rows[:TOP_ROWS]
    extra = [
        column
        for column in (top[0] if top else {})
        if column not in ("key", "count") and isinstance(top[0][column], int)
    ]
    biggest = max((row["count"] for row in top), default=0) or 1
    csv_name = f"{name}.csv"
    return {
        "name": name,
        "title": t["table_" + name],
        "key_label": t["key_" + name],
        "count_label": t["count_" + table.get("counts", "visits")],
        "extra_labels": [t.get("column_" + column, column) for column in extra],
        "rows": [
            {
                "key": display_key(name, row["key"], fmt.lang, t),
                "count": fmt.int(row["count"]),
                "extra": [fmt.int(row[column]) for column in extra],
                "share": round(100 * row["count"] / biggest),  # a class share-0 … share-100
            }
            for row in top
        ],
        "more": len(rows) - len(top),
        "csv": csv_name if csv_name in present else None,
    }


def display_key(table: str, key: str, lang: str, t: dict) -> str:
    if key in ("", None):
        return t["none"]
    if table == "countries":
        name = COUNTRIES.get(key.upper(), {}).get(lang)
        return f"{name} ({key.upper()})" if name else key
    if table == "devices":
        return DEVICES.get(key.lower(), {}).get(lang, key)
    if key == DIRECT:
        return t["direct"]
    if table == "status_codes":
        meaning = STATUS.get(str(key), {}).get(lang)
        return f"{key} {meaning}" if meaning else str(key)
    return str(key)


class Formatter:
    """Numbers, dates and durations the way a Dutch or English reader writes them."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.thousands, self.decimal_mark = (".", ",") if lang == "nl" else (",", ".")

    def int(self, n: int | float) -> str:
        return f"{round(n):,}".replace(",", self.thousands)

    def decimal(self, x: float, places: int = 1) -> str:
        return f"{x:.{places}f}".replace(".", self.decimal_mark)

    def percent(self, ratio: float) -> str:
        return f"{round(ratio * 100)}%"

    def share(self, part: int, whole: int) -> str:
        """`3,6%`: one decimal, since a shop's conversion rates are small; `–` of nothing."""
        return f"{self.decimal(100 * part / whole)}%" if whole else "–"

    def duration(self, seconds: float) -> str:
        seconds = round(seconds)
        minutes, seconds = divmod(seconds, 60)
        if not minutes:
            return f"{seconds} s"
        return f"{minutes} min {seconds:02d} s"

    def bytes(self, n: int) -> str:
        for unit in ("B", "kB", "MB", "GB"):
            if n < 1000 or unit == "GB":
                return f"{self.int(n)} {unit}" if unit == "B" else f"{self.decimal(n)} {unit}"
            n /= 1000
        raise AssertionError("unreachable")  # pragma: no cover

    def date(self, iso: str, year: bool = False) -> str:
        day = dt.date.fromisoformat(iso)
        month = MONTHS[self.lang][day.month - 1]
        text = f"{day.day} {month}" if self.lang == "nl" else f"{month[:3]} {day.day}"
        if not year:
            return text
        return f"{text} {day.year}" if self.lang == "nl" else f"{text}, {day.year}"

    def span(self, start_iso: str, end_iso: str, year: bool = False) -> str:
        """`19 – 25 oktober`, `26 oktober – 1 november 2026`, `October 19 – 25, 2026`."""
        start, end = dt.date.fromisoformat(start_iso), dt.date.fromisoformat(end_iso)
        if start == end:
            return self.date(start_iso, year)
        dutch = self.lang == "nl"
        first, last = self._day_month(start), self._day_month(end)
        if (start.year, start.month) == (end.year, end.month):
            # The month once: "19 – 25 oktober", "October 19 – 25".
            first, last = (str(start.day), last) if dutch else (first, str(end.day))
        comma = " " if dutch else ", "
        if start.year != end.year:
            first += f"{comma}{start.year}"
        return f"{first} – {last}" + (f"{comma}{end.year}" if year else "")

    def _day_month(self, day: dt.date) -> str:
        month = MONTHS[self.lang][day.month - 1]
        return f"{day.day} {month}" if self.lang == "nl" else f"{month} {day.day}"

    def day_label(self, iso: str) -> str:
        day = dt.date.fromisoformat(iso)
        return f"{WEEKDAYS[self.lang][day.weekday()]} {day.day}"

    def month(self, yyyy_mm: str) -> str:
        year, month = yyyy_mm.split("-")
        return f"{MONTHS[self.lang][int(month) - 1]} {year}"

    def timestamp(self, iso: str | None) -> str:
        if not iso:
            return ""
        moment = dt.datetime.fromisoformat(iso)
        if moment.tzinfo is not None:
            moment = moment.astimezone(SHOP_TIMEZONE)
        return f"{self.date(moment.date().isoformat(), year=True)} {moment:%H:%M}"

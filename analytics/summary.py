"""The owner's summary mail: last full week (or month) against the one before, from the report's
per-day counts (no address, no per-visitor row), as a text/plain and a simple text/html part."""

from __future__ import annotations

import datetime as dt
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pandas as pd

from analytics.aggregate import build_stats
from analytics.days import day_number
from analytics.report import Formatter, compared, display_key, environment
from analytics.texts import SUMMARY, TEXT
from repairs import mail
from repairs.settings import Settings

PERIODS = ("week", "month")
TOP = 5
# 404s "jump": at least this many more than the period before, and at least twice as many.
NOT_FOUND_JUMP = 20
FIGURES = ("visitors", "pageviews", "conversions")


class DeliveryError(Exception):
    """The mail could not be written or sent; the message says where it was going and why."""


@dataclass
class Summary:
    subject: str
    text: str
    html: str


def period_before(today: dt.date, period: str) -> tuple[dt.date, dt.date]:
    """The last full week (Monday to Sunday) or calendar month that ended before `today`."""
    if period == "week":
        end = today - dt.timedelta(days=today.weekday() + 1)
        return end - dt.timedelta(days=6), end
    if period == "month":
        end = today.replace(day=1) - dt.timedelta(days=1)
        return end.replace(day=1), end
    raise ValueError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")


def figures(now: dict, before: dict, fmt: Formatter, t: dict) -> list[dict]:
    """Visitors, pageviews and repair requests, each with its change against the period before."""
    rows = []
    for key in FIGURES:
        value, previous = now.get(key, 0), before.get(key, 0) if before else None
        change = compared(value, previous, fmt, TEXT[fmt.lang])
        rows.append(
            {
                "label": t[f"figure_{key}"],
                "value": fmt.int(value),
                "before": fmt.int(previous) if previous is not None else "–",
                "change": change["text"] if change else "–",
                "direction": change["direction"] if change else "same",
            }
        )
    return rows


def notable(now: dict, before: dict, fmt: Formatter, t: dict) -> list[str]:
    """What is worth a look: a new referrer in the top 5, a jump in 404s, no data at all."""
    notes = []
    if not now.get("requests"):
        return [t["note_no_data"]]
    if before.get("requests"):
        known = {row["key"] for row in _rows(before, "referrers")}
        for row in _rows(now, "referrers")[:TOP]:
            if row["key"] not in known:
                notes.append(
                    t["note_new_referrer"].format(
                        site=row["key"], visits=counted(t, "n_visits", row["count"], fmt)
                    )
                )
    missing, missing_before = now.get("not_found", 0), before.get("not_found", 0)
    if missing - missing_before >= NOT_FOUND_JUMP and missing >= 2 * missing_before:
        top = _rows(now, "not_found")[:1]
        notes.append(
            t["note_not_found"].format(
                n=fmt.int(missing),
                before=fmt.int(missing_before),
                path=top[0]["key"] if top else "–",
            )
        )
    return notes


def compose(
    counts: pd.DataFrame, today: dt.date, period: str, lang: str, site_url: str, shop_name: str
) -> Summary:
    """The summary of the last full `period` before `today` from per-day counts."""
    start, end = period_before(today, period)
    if period == "week":
        prev_start, prev_end = start - dt.timedelta(days=7), start - dt.timedelta(days=1)
    else:
        prev_start, prev_end = period_before(start, "month")
    now = _stats(counts, start, end)
    # {} when the counts do not reach back that far: no change to show then
    before = _stats(counts, prev_start, prev_end) if _has_data(counts, prev_start, prev_end) else {}
    fmt, t = Formatter(lang), SUMMARY[lang]
    span = fmt.span(start.isoformat(), end.isoformat(), year=True)
    if period == "week":
        title = t["title_week"].format(week=start.isocalendar().week, span=span)
    else:
        title = t["title_month"].format(month=fmt.month(start.isoformat()[:7]))
    report_t = TEXT[lang]
    conversions = {row["key"]: row["count"] for row in _rows(now, "conversion_sources")}
    context = {
        "lang": lang,
        "t": t,
        "title": title,
        "shop": shop_name,
        "span": span,
        "before_span": fmt.span(prev_start.isoformat(), prev_end.isoformat(), year=True),
        "figures": figures(now, before, fmt, t),
        "rate": fmt.share(now.get("conversions", 0), now.get("visits", 0)),
        "visits": fmt.int(now.get("visits", 0)),
        "pages": [(row["key"], fmt.int(row["count"])) for row in _rows(now, "pages")[:TOP]],
        "sources": [
            (
                display_key("sources", row["key"], lang, report_t),
                fmt.int(row["count"]),
                fmt.int(conversions.get(row["key"], 0)),
            )
            for row in _rows(now, "sources")[:TOP]
        ],
        "notes": notable(now, before, fmt, t),
        "report_url": site_url.rstrip("/") + "/stats/",
    }
    env = environment()
    subject = t["subject"].format(
        shop=shop_name,
        title=title,
        visitors=counted(t, "n_visitors", now.get("visitors", 0), fmt),
        requests=counted(t, "n_requests", now.get("conversions", 0), fmt),
    )
    return Summary(
        subject=subject,
        text=env.get_template("summary.txt").render(context).strip() + "\n",
        html=env.get_template("summary.html").render(context),
    )


def message(summary: Summary, sender, to: str) -> EmailMessage:
    """The mail: text/plain first, the same in simple HTML as the alternative."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = summary.subject
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    domain = to.rpartition("@")[2] or "localhost"
    msg["Message-ID"] = make_msgid("summary", domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(summary.text)
    msg.add_alternative(summary.html, subtype="html")
    return msg


def counted(t: dict, key: str, n: int, fmt: Formatter) -> str:
    """`1 bezoeker`, `3 bezoekers`: the text for one or for more (or none)."""
    one, more = t[key]
    return one if n == 1 else more.format(n=fmt.int(n))


def _stats(counts: pd.DataFrame, start: dt.date, end: dt.date) -> dict:
    return build_stats(counts, settings={}, start=day_number(start), end=day_number(end))


def _has_data(counts: pd.DataFrame, start: dt.date, end: dt.date) -> bool:
    days = counts["day"]
    return bool(((days >= day_number(start)) & (days <= day_number(end))).any())


def _rows(stats: dict, table: str) -> list[dict]:
    return stats.get("tables", {}).get(table, {}).get("rows", [])


def deliver(msg: EmailMessage, settings: Settings, name: str) -> str:
    """Write `msg` into the settings' mail folder as `name`, else send it with their SMTP
    server; return where it went ("written to PATH", "sent to ADDRESS")."""
    try:
        if settings.mail_dir is not None:
            settings.mail_dir.mkdir(parents=True, exist_ok=True)
            target = settings.mail_dir / name
            mail.write_eml(target, msg)
            return f"written to {target}"
        smtp = mail.open_smtp(settings)
        try:
            smtp.send_message(msg)
        finally:
            smtp.quit()
        return f"sent to {msg['To']}"
    except (OSError, smtplib.SMTPException) as e:
        where = settings.mail_dir or f"{settings.smtp_host}:{settings.smtp_port}"
        raise DeliveryError(f"{where}: {e}") from None

"""A realistic nginx access log for demos, tests and the benchmark: no real visitor in it.

Human visits (pages with their stylesheet and favicon, referrers, campaigns), crawlers,
scripts, vulnerability probes and nginx's `"-" 400` lines, from thousands of IPv4, IPv6 and
IPv4-mapped clients, in time order with the Amsterdam offsets (+0100/+0200). Seeded, so the same
arguments give the same bytes.

    python -m analytics.sample OUT --lines N [--seed S] [--start YYYY-MM-DD] [--days D] [--xff]
                                [--varied]
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import random
import sys
from bisect import bisect_left
from operator import itemgetter
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from analytics.times import MONTH_NAMES
from shop import config
from shop.site import PAGE_PATHS, TIME_ZONE

TIMEZONE = ZoneInfo(TIME_ZONE)
# Spans the end of summer time (25 Oct 2026), so a default log has both offsets.
DEFAULT_START = dt.date(2026, 10, 21)

# The theme's assets (theme/static, served under /theme/).
STYLESHEET = "/theme/css/style.css"
FAVICON = "/theme/favicon.svg"
FORM_POST = "/api/repair-request"
# Entry weights per page key; named, so a page added to the site leaves the seeded sample as it was.
ENTRY_WEIGHT_BY_PAGE = {"home": 50, "services": 20, "repair": 15, "contact": 12, "privacy": 3}
PAGES_NL = [PAGE_PATHS[key]["nl"] for key in ENTRY_WEIGHT_BY_PAGE]
PAGES_EN = [PAGE_PATHS[key]["en"] for key in ENTRY_WEIGHT_BY_PAGE]
ENTRY_WEIGHTS = list(ENTRY_WEIGHT_BY_PAGE.values())
PROBES = (
    "/wp-login.php",
    "/.env",
    "/xmlrpc.php",
    "/wp-admin/setup-config.php",
    "/.git/config",
    "/phpmyadmin/index.php",
    "/admin/config.php",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/cgi-bin/luci/;stok=/locale",
    "/.aws/credentials",
)
TYPOS = ("/diensten/laptop/", "/contact.html", "/en/service/", "/prijzen/", "/index.php")

BROWSERS = (
    # (weight, user agent)
    (
        30,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36",
    ),
    (
        22,
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.6723.102 Mobile Safari/537.36",
    ),
    (
        14,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    ),
    (
        8,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    ),
    (
        7,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    ),
    (3, "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"),
    (
        9,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.2849.68",
    ),
    (
        4,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    ),
    (
        3,
        "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1",
    ),
)
# (weight, user agent, first octets of its addresses or None for anywhere, fetches robots.txt)
CRAWLERS = (
    (
        30,
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "66.249",
        True,
    ),
    (15, "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "40.77", True),
    (15, "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "54.36", True),
    (10, "curl/8.5.0", None, False),
    (10, "python-requests/2.32.3", None, False),
    (
        8,
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/130.0.0.0 Safari/537.36",
        None,
        False,
    ),
    (7, "-", None, False),
    (5, "", None, False),
)
PROBE_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/91.0.4472.124 Safari/537.36",
    "Go-http-client/1.1",
    "Mozilla/5.0 zgrab/0.x",
    "-",
)
REFERRERS = (
    # (weight, referrer of a visit's first page)
    (40, "-"),
    (25, "https://www.google.com/"),
    (6, "https://www.google.nl/"),
    (6, "https://www.bing.com/"),
    (5, "https://duckduckgo.com/"),
    (4, "https://l.facebook.com/"),
    (2, "https://m.facebook.com/"),
    (1, "https://l.instagram.com/"),
    (1, "https://www.linkedin.com/"),
    (3, "https://www.marktplaats.nl/v/computers-en-software/"),
    (2, "https://gathering.tweakers.net/forum/list_messages/1234567"),
    (2, "https://www.buurtwijzer.nl/bedrijven/"),
    (3, "OWN_SITE"),
)
CAMPAIGNS = (
    "?utm_source=nieuwsbrief&utm_medium=email&utm_campaign=najaar",
    "?utm_source=facebook&utm_medium=social&utm_campaign=laptopactie",
    "?utm_source=flyer&utm_campaign=opening",
)
EMAIL_QUERIES = (
    "?email=jan.jansen%40example.nl",
    "?ref=mail&email=p.devries@example.com",
    "?token=8f14e45fceea167a&email=klant%40example.org",
)
# Relative traffic per local hour, 00..23: quiet nights, busy late mornings and evenings.
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 9, 9, 8, 8, 8, 9, 10, 10, 8, 5, 2)
SECONDS = [f"{s:02d}" for s in range(60)]


def generate_log(
    path_or_file: str | Path | IO[str],
    lines: int,
    *,
    seed: int = 0,
    start: dt.date | None = None,
    days: int = 7,
    ipv6_share: float = 0.2,
    bot_share: float = 0.15,
    xff: bool = False,
    mapped_share: float = 0.02,
    site_url: str | None = None,
    varied: bool = False,
) -> None:
    """Write `lines` lines of nginx `combined` log (plus `"$http_x_forwarded_for"` with `xff`).

    `mapped_share` of the IPv4 clients are written IPv4-mapped (`::ffff:192.0.2.1`), as a
    dual-stack listener logs them. `varied` makes a busier, messier site's log: thousands of
    distinct user agents and paths, query strings on a fifth of the lines, long referrers.
    """
    if lines < 0 or days < 1:
        raise ValueError("lines must be >= 0 and days >= 1")
    rng = random.Random(seed)
    start = start or DEFAULT_START
    site = (site_url or config.load().site.url).rstrip("/")
    t0 = int(dt.datetime.combine(start, dt.time(), TIMEZONE).timestamp())
    t_end = int(
        dt.datetime.combine(start + dt.timedelta(days=days), dt.time(), TIMEZONE).timestamp()
    )
    clock = _Clock(t0, t_end)
    maker = (_VariedVisitMaker if varied else _VisitMaker)(
        rng, site, max(60, lines // 12), ipv6_share, bot_share, xff, mapped_share
    )

    if isinstance(path_or_file, str | Path):
        with open(path_or_file, "w", encoding="utf-8", newline="\n") as out:
            _write(out, lines, rng, start, days, clock, maker, t_end)
    else:
        _write(path_or_file, lines, rng, start, days, clock, maker, t_end)


def _write(out, lines, rng, start, days, clock, maker, t_end) -> None:
    """Visits hour by hour; requests that run past the hour wait for the next, so time only grows."""
    written = 0
    pending: list[tuple[int, str, str]] = []
    blocks = _hour_blocks(start, days)
    total_weight = sum(w for _, w in blocks)
    cumulative = 0.0
    for i, (block_start, weight) in enumerate(blocks):
        cumulative += weight
        target = lines if i == len(blocks) - 1 else round(lines * cumulative / total_weight)
        while written < target:
            events = maker.visit(rng.randrange(block_start, block_start + 3600))
            events = events[: target - written]
            written += len(events)
            pending.extend(events)
        pending.sort(key=itemgetter(0))
        cut = bisect_left(pending, block_start + 3600, key=itemgetter(0))
        if i == len(blocks) - 1:
            cut = len(pending)
        out.write("".join([a + clock.format(min(t, t_end - 1)) + b for t, a, b in pending[:cut]]))
        del pending[:cut]


def _hour_blocks(start: dt.date, days: int) -> list[tuple[int, float]]:
    """(epoch start, traffic weight) of every local hour; weekends are quieter."""
    blocks = []
    for d in range(days):
        day = start + dt.timedelta(days=d)
        factor = 0.6 if day.weekday() >= 5 else 1.0
        midnight = int(dt.datetime.combine(day, dt.time(), TIMEZONE).timestamp())
        next_midnight = int(
            dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), TIMEZONE).timestamp()
        )
        for t in range(midnight, next_midnight, 3600):
            hour = dt.datetime.fromtimestamp(t, TIMEZONE).hour
            blocks.append((t, HOUR_WEIGHTS[hour] * factor))
    return blocks


class _Clock:
    """Formats epoch seconds as nginx's `10/Oct/2026:13:55:36 +0200`, cached per minute."""

    def __init__(self, t0: int, t_end: int) -> None:
        self.t0 = t0 - t0 % 60
        self.minutes: list[tuple[str, str]] = []
        for t in range(self.t0, t_end + 60, 60):
            local = dt.datetime.fromtimestamp(t, TIMEZONE)
            head = f"{local.day:02d}/{MONTH_NAMES[local.month - 1]}/{local.year}:{local:%H:%M}:"
            self.minutes.append((head, local.strftime(" %z")))

    def format(self, t: int) -> str:
        head, offset = self.minutes[(t - self.t0) // 60]
        return head + SECONDS[t % 60] + offset


class _VisitMaker:
    """Clients and the requests of one visit, as (epoch, line before time, line after time)."""

    def __init__(
        self,
        rng: random.Random,
        site: str,
        n_clients: int,
        ipv6_share: float,
        bot_share: float,
        xff: bool,
        mapped_share: float,
    ) -> None:
        self.rng = rng
        self.mapped_share = mapped_share
        self.site = site
        self.xff = xff
        self.seen: set[str] = set()
        self.humans = [
            (self.new_ip(ipv6_share), _weighted(rng, BROWSERS)) for _ in range(n_clients)
        ]
        self.returning: set[int] = set()
        crawler_ips = max(10, n_clients // 40)
        self.crawlers = []
        for _ in range(crawler_ips):
            _, ua, prefix, robots = _weighted_row(rng, CRAWLERS)
            ip = self.new_ip(ipv6_share if prefix is None else 0.0, prefix)
            self.crawlers.append((ip, ua, robots))
        self.probers = [
            (self.new_ip(ipv6_share / 2), rng.choice(PROBE_AGENTS))
            for _ in range(max(5, n_clients // 60))
        ]
        # Bot and human visits average about the same number of lines, so visit share = line share.
        self.bot_visit_share = bot_share
        own = tuple((w, site + "/" if r == "OWN_SITE" else r) for w, r in REFERRERS)
        self.referrers = _cumulative(own)
        self.entries_weights = list(ENTRY_WEIGHTS)

    def new_ip(self, ipv6_share: float, prefix: str | None = None) -> str:
        """A distinct address: IPv4 (some written IPv4-mapped) or IPv6."""
        rng = self.rng
        while True:
            if prefix is not None:
                ip = f"{prefix}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            elif rng.random() < ipv6_share:
                ip = _random_ipv6(rng)
            else:
                first = rng.choice((31, 37, 62, 77, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 92))
                ip = f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                if rng.random() < self.mapped_share:
                    ip = "::ffff:" + ip
            if ip not in self.seen:
                self.seen.add(ip)
                return ip

    def visit(self, t: int) -> list[tuple[int, str, str]]:
        rng = self.rng
        r = rng.random()
        if r < 0.002:
            return [self.line(t, self.new_ip(0.1), "-", 400, 0, "-", "-")]
        if r < self.bot_visit_share:
            return self.probe_visit(t) if rng.random() < 0.25 else self.crawler_visit(t)
        return self.human_visit(t)

    def line(
        self,
        t: int,
        ip: str,
        request: str,
        status: int,
        size: int,
        referrer: str,
        ua: str,
    ) -> tuple[int, str, str]:
        tail = f'] "{request}" {status} {size} "{referrer}" "{ua}"'
        if self.xff:
            tail += f' "{self.forwarded()}"'
        return (t, ip + " - - [", tail + "\n")

    def forwarded(self) -> str:
        """Mostly `-`; sometimes the address a proxy saw, or a chain of two."""
        rng = self.rng
        r = rng.random()
        if r < 0.7:
            return "-"
        if r < 0.9:
            return self.new_ip(0.2)
        return f"{self.new_ip(0.2)}, {self.new_ip(0.0)}"

    def human_visit(self, t: int) -> list[tuple[int, str, str]]:
        rng, site = self.rng, self.site
        index = int(len(self.humans) * rng.random() ** 1.6)  # some clients come back often
        ip, ua = self.humans[index]
        cached = index in self.returning
        self.returning.add(index)
        pages = PAGES_EN if rng.random() < 0.2 else PAGES_NL
        proto = "HTTP/2.0" if rng.random() < 0.7 else "HTTP/1.1"
        referrer = _pick(rng, self.referrers)
        page = rng.choices(pages, self.entries_weights)[0]
        query = ""
        q = rng.random()
        if q < 0.04:
            query = rng.choice(CAMPAIGNS)
        elif q < 0.05:
            query = rng.choice(EMAIL_QUERIES)
        events = []
        n_pages = 1 if rng.random() < 0.45 else min(1 + int(rng.expovariate(0.6)) + 1, 8)
        for n in range(n_pages):
            if n == 0 and rng.random() < 0.01:
                # A mistyped or stale link: a 404, then the visitor finds the page.
                events.append(
                    self.line(t, ip, f"GET {rng.choice(TYPOS)} {proto}", 404, 1520, referrer, ua)
                )
                t += rng.randrange(2, 8)
                referrer = "-"
            size = rng.randrange(4800, 12500)
            events.append(self.line(t, ip, f"GET {page}{query} {proto}", 200, size, referrer, ua))
            page_url = site + page
            if n == 0:
                events.extend(self.assets(t, ip, ua, proto, page_url, cached))
            if page in (PAGES_NL[2], PAGES_EN[2]) and rng.random() < 0.1:
                # Sends the repair form: POST, 303, the thank-you page.
                t += rng.randrange(40, 300)
                events.append(self.line(t, ip, f"POST {FORM_POST} {proto}", 303, 0, page_url, ua))
                thanks = PAGE_PATHS["thanks"]["en" if pages is PAGES_EN else "nl"]
                events.append(
                    self.line(
                        t + 1,
                        ip,
                        f"GET {thanks} {proto}",
                        200,
                        rng.randrange(3000, 4000),
                        page_url,
                        ua,
                    )
                )
                break
            query = ""
            referrer = page_url
            t += int(rng.expovariate(1 / 50)) + 3
            page = rng.choice(pages)
        return events

    def assets(
        self, t: int, ip: str, ua: str, proto: str, page_url: str, cached: bool
    ) -> list[tuple[int, str, str]]:
        rng = self.rng
        if cached and rng.random() < 0.6:
            # Revalidated from the browser cache: 304 without a body.
            return [self.line(t + 1, ip, f"GET {STYLESHEET} {proto}", 304, 0, page_url, ua)]
        return [
            self.line(t, ip, f"GET {STYLESHEET} {proto}", 200, 8421, page_url, ua),
            self.line(t + 1, ip, f"GET {FAVICON} {proto}", 200, 1150, page_url, ua),
        ]

    def crawler_visit(self, t: int) -> list[tuple[int, str, str]]:
        rng = self.rng
        ip, ua, robots = rng.choice(self.crawlers)
        events = []
        if robots or rng.random() < 0.1:
            events.append(self.line(t, ip, "GET /robots.txt HTTP/1.1", 200, 68, "-", ua))
            t += rng.randrange(1, 5)
        method = "HEAD" if ua.startswith("curl") and rng.random() < 0.5 else "GET"
        for _ in range(1 + int(rng.expovariate(0.4))):
            page = rng.choice(PAGES_NL if rng.random() < 0.7 else PAGES_EN)
            status, size = (304, 0) if rng.random() < 0.2 else (200, rng.randrange(4800, 12500))
            events.append(self.line(t, ip, f"{method} {page} HTTP/1.1", status, size, "-", ua))
            if "HeadlessChrome" in ua:
                events.extend(self.assets(t, ip, ua, "HTTP/1.1", self.site + page, False))
            t += rng.randrange(1, 40)
        return events

    def probe_visit(self, t: int) -> list[tuple[int, str, str]]:
        rng = self.rng
        ip, ua = rng.choice(self.probers)
        events = []
        for path in rng.sample(PROBES, rng.randrange(2, 7)):
            events.append(self.line(t, ip, f"GET {path} HTTP/1.1", 404, 153, "-", ua))
            t += rng.randrange(0, 2)
        return events


class _VariedVisitMaker(_VisitMaker):
    """Visits to a larger site: browser versions vary per client, thousands of article and
    image paths, query strings (filters, trackers, searches) and long search-engine referrers."""

    ARTICLES = 4000
    BROWSERS = 6000

    def __init__(self, rng: random.Random, *args) -> None:
        self.rng = rng
        super().__init__(rng, *args)
        browsers = [self.browser() for _ in range(self.BROWSERS)]
        self.humans = [(ip, rng.choice(browsers)) for ip, _ in self.humans]

    def browser(self) -> str:
        rng = self.rng
        major = rng.randrange(100, 132)
        build = f"{major}.0.{rng.randrange(4000, 7000)}.{rng.randrange(200)}"
        device = rng.choice(
            (
                "Windows NT 10.0; Win64; x64",
                f"Linux; Android {rng.randrange(9, 15)}; SM-A{rng.randrange(100, 600)}B",
                f"iPhone; CPU iPhone OS {rng.randrange(15, 19)}_{rng.randrange(7)} like Mac OS X",
                f"Macintosh; Intel Mac OS X 10_15_{rng.randrange(8)}",
                "X11; Linux x86_64",
            )
        )
        if rng.random() < 0.2:
            return f"Mozilla/5.0 ({device}; rv:{major}.0) Gecko/20100101 Firefox/{major}.0"
        mobile = " Mobile" if "Android" in device or "iPhone" in device else ""
        return (
            f"Mozilla/5.0 ({device}) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{build}{mobile} Safari/537.36"
        )

    def page(self) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.4:
            return rng.choices(PAGES_EN if rng.random() < 0.2 else PAGES_NL, self.entries_weights)[
                0
            ]
        n = int(self.ARTICLES * rng.random() ** 2)
        section = ("nieuws", "tips", "onderdelen", "en/news")[n % 4]
        return f"/{section}/{n}-{('laptop', 'accu', 'scherm', 'ssd', 'virus')[n % 5]}-{n * 7 % 97}/"

    def query(self) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.04:
            return rng.choice(CAMPAIGNS)
        if r < 0.05:
            return rng.choice(EMAIL_QUERIES)
        if r < 0.2:
            return f"?fbclid=IwAR{rng.getrandbits(96):024x}"
        if r < 0.53:
            return f"?pagina={rng.randrange(1, 30)}&sorteer={rng.choice(('prijs', 'nieuw'))}"
        return ""

    def referrer(self) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.35:
            return "-"
        if r < 0.75:
            words = "+".join(
                rng.choice(("laptop", "reparatie", "scherm", "kapot", "accu", "utrecht", "snel"))
                for _ in range(rng.randrange(2, 6))
            )
            return (
                f"https://www.google.nl/search?q={words}&sca_esv={rng.getrandbits(64):016x}"
                f"&ei={rng.getrandbits(128):032x}&ved=0ahUKEwi{rng.getrandbits(160):040x}"
                f"&uact=5&oq={words}&gs_lp=Egxnd3Mtd2l6LXNlcnA{rng.getrandbits(200):050x}"
            )
        return _pick(rng, self.referrers)

    def human_visit(self, t: int) -> list[tuple[int, str, str]]:
        rng, site = self.rng, self.site
        index = int(len(self.humans) * rng.random() ** 1.6)
        ip, ua = self.humans[index]
        cached = index in self.returning
        self.returning.add(index)
        proto = "HTTP/2.0" if rng.random() < 0.7 else "HTTP/1.1"
        referrer = self.referrer()
        events = []
        n_pages = 1 if rng.random() < 0.45 else min(2 + int(rng.expovariate(0.6)), 8)
        for n in range(n_pages):
            page = self.page()
            status = 404 if rng.random() < 0.02 else 200
            size = rng.randrange(4800, 52500) if status == 200 else 1520
            request = f"GET {page}{self.query()} {proto}"
            events.append(self.line(t, ip, request, status, size, referrer, ua))
            page_url = site + page
            if n == 0:
                events.extend(self.assets(t, ip, ua, proto, page_url, cached))
            if status == 200 and rng.random() < 0.5:
                image = f"/images/{rng.randrange(self.ARTICLES * 2)}.webp"
                events.append(
                    self.line(t + 1, ip, f"GET {image} {proto}", 200, 20_000, page_url, ua)
                )
            if page in (PAGES_NL[2], PAGES_EN[2]) and rng.random() < 0.1:
                t += rng.randrange(40, 300)
                events.append(self.line(t, ip, f"POST {FORM_POST} {proto}", 303, 0, page_url, ua))
                break
            referrer = page_url
            t += int(rng.expovariate(1 / 50)) + 3
        return events


def _random_ipv6(rng: random.Random) -> str:
    """A residential-looking IPv6 address, compressed as nginx writes it."""
    prefix = rng.choice((0x2A02A440, 0x2A02A450, 0x20011C00, 0x2A107381, 0x2A0298E0))
    subnet = rng.randrange(1 << 32)
    # A third get a router-assigned short suffix (`...::1234`), the rest a random one.
    iid = rng.randrange(1, 1 << 16) if rng.random() < 0.3 else rng.getrandbits(64) | 1
    value = (prefix << 96) | (subnet << 64) | iid
    return ipaddress.IPv6Address(value).compressed


def _weighted(rng: random.Random, rows) -> str:
    return _weighted_row(rng, rows)[1]


def _weighted_row(rng: random.Random, rows):
    return rng.choices(rows, [row[0] for row in rows])[0]


def _cumulative(rows) -> tuple[list[float], list[str]]:
    total, acc, values = 0.0, [], []
    for weight, value in rows:
        total += weight
        acc.append(total)
        values.append(value)
    return [a / total for a in acc], values


def _pick(rng: random.Random, table: tuple[list[float], list[str]]) -> str:
    acc, values = table
    r = rng.random()
    for bound, value in zip(acc, values, strict=True):
        if r < bound:
            return value
    return values[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analytics.sample", description="Write a sample nginx access log."
    )
    parser.add_argument("out", help="file to write, or - for stdout")
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--xff", action="store_true", help='append "$http_x_forwarded_for"')
    parser.add_argument(
        "--varied",
        action="store_true",
        help="a busier site: thousands of user agents and paths, query strings, long referrers",
    )
    args = parser.parse_args(argv)
    if args.lines < 0 or args.days < 1:
        parser.error("--lines must be >= 0 and --days >= 1")
    out = sys.stdout if args.out == "-" else args.out
    generate_log(
        out,
        args.lines,
        seed=args.seed,
        start=args.start,
        days=args.days,
        xff=args.xff,
        varied=args.varied,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

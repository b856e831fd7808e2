"""What a request is: bot or human, browser/OS/device, page or asset, probe, referrer source.

Every function here works on one distinct value (a user agent, a path, a referrer); the pipeline
calls it once per distinct value and spreads the answer over the rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import ua_parser
from crawlerdetect import CrawlerDetect

ROBOTS_TXT = "/robots.txt"
MAX_REQUESTS_PER_DAY = 150

# Paths a static Pelican site never has: scanners looking for PHP apps, secrets and admin panels.
PROBE = re.compile(
    r"\.(?:php\d?|asp|aspx|jsp|cgi|env|git|svn|aws|ssh|htaccess|htpasswd|DS_Store|sql|bak)(?:/|$)"
    r"|^/(?:wp-|wordpress|phpmyadmin|pma|admin|administrator|cgi-bin|vendor|boaform|actuator"
    r"|owa|autodiscover|\.well-known/security\.txt\.php|xmlrpc|solr|console|manager|hnap1)"
    r"|/\.(?:env|git|aws|ssh|svn|vscode|docker)",
    re.IGNORECASE,
)
ASSET = re.compile(
    r"\.(?:css|js|mjs|map|png|jpe?g|gif|svg|webp|avif|ico|bmp|woff2?|ttf|otf|eot|mp4|webm|mp3"
    r"|ogg|pdf|zip|gz|xml|txt|json|webmanifest|rss|atom)$",
    re.IGNORECASE,
)
SEARCH_ENGINES = {
    "google": "Google",
    "bing": "Bing",
    "duckduckgo": "DuckDuckGo",
    "ecosia": "Ecosia",
    "yahoo": "Yahoo",
    "startpage": "Startpage",
    "qwant": "Qwant",
    "yandex": "Yandex",
    "baidu": "Baidu",
    "search.brave": "Brave Search",
    "kagi": "Kagi",
}
SOCIAL = {
    "facebook": "Facebook",
    "fb.me": "Facebook",
    "instagram": "Instagram",
    "t.co": "X (Twitter)",
    "twitter": "X (Twitter)",
    "x.com": "X (Twitter)",
    "linkedin": "LinkedIn",
    "lnkd.in": "LinkedIn",
    "reddit": "Reddit",
    "youtube": "YouTube",
    "pinterest": "Pinterest",
    "tiktok": "TikTok",
    "whatsapp": "WhatsApp",
    "mastodon": "Mastodon",
    "bsky": "Bluesky",
    "threads": "Threads",
    "nextdoor": "Nextdoor",
    "marktplaats": "Marktplaats",
}
_crawlers = CrawlerDetect()


@dataclass(frozen=True)
class Agent:
    """What a user-agent string says: a bot name (None for a browser), browser, OS, device."""

    bot: str | None
    browser: str
    os: str
    device: str


@lru_cache(maxsize=65536)
def classify_agent(ua: str | None) -> Agent:
    """Bot check (crawlerdetect plus what it misses) and ua-parser's families, for one UA."""
    text = (ua or "").strip()
    if text in ("", "-"):
        return Agent("(no user agent)", "Other", "Other", "Bot")
    parsed = ua_parser.parse(text)
    browser = parsed.user_agent.family if parsed.user_agent else "Other"
    os_family = parsed.os.family if parsed.os else "Other"
    device = _device_class(text, parsed)
    bot = None
    if "HeadlessChrome" in text:
        bot = "HeadlessChrome"
    elif _crawlers.isCrawler(text):
        bot = (_crawlers.getMatches() or "crawler").strip() or "crawler"
    elif parsed.device and parsed.device.family == "Spider":
        bot = browser
    return Agent(bot, browser, os_family, "Bot" if bot else device)


def _device_class(text: str, parsed) -> str:
    family = parsed.device.family if parsed.device else "Other"
    os_family = parsed.os.family if parsed.os else "Other"
    lowered = text.lower()
    if family == "Spider":
        return "Bot"
    if (
        "ipad" in lowered
        or "tablet" in lowered
        or (os_family == "Android" and "mobile" not in lowered)
    ):
        return "Tablet"
    if os_family in ("iOS", "Android") or "mobile" in lowered or family not in ("Other", "Mac"):
        return "Mobile"
    if os_family in ("Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "FreeBSD", "Fedora"):
        return "Desktop"
    return "Other"


def is_probe(path: str | None) -> bool:
    """A request for something only a vulnerability scanner asks a static site for."""
    return bool(path) and PROBE.search(path) is not None


def is_page(path: str | None) -> bool:
    """A page (HTML) rather than an asset: by extension and the site's own folders."""
    if not path or not path.startswith("/"):
        return False
    return path != ROBOTS_TXT and not path.startswith("/theme/") and ASSET.search(path) is None


@dataclass(frozen=True)
class Source:
    """An external referrer: its host, and its group ("search", "social" or "website")."""

    host: str
    kind: str
    name: str


def referrer_source(referrer: str | None, own_host: str) -> Source | None:
    """The external source of a referrer; None for none, the site itself, or junk."""
    if not referrer or referrer == "-":
        return None
    try:
        host = (urlsplit(referrer).hostname or "").lower()
    except ValueError:
        return None
    if not host or "." not in host:
        return None
    host = host.removeprefix("www.")
    if own_host and host == own_host.lower().removeprefix("www."):
        return None
    labels = host.split(".")
    for needle, name in SEARCH_ENGINES.items():
        if needle in labels or host.startswith(needle + "."):
            return Source(host, "search", name)
    for needle, name in SOCIAL.items():
        if host == needle or host.endswith("." + needle) or needle in labels:
            return Source(host, "social", name)
    return Source(host, "website", host)

"""What a request is: bot or human, browser/OS/device, page or asset, probe, referrer source.

Every function here works on one distinct value (a user agent, a path, a referrer); a `Labeller`
calls it once per distinct value of a run and hands the answers on as arrays indexed by the
value's code, which the pipeline and the aggregation spread over the rows. Bots are known by
their user agent (the list) or by what a visitor key did in a day (`bot_reasons`).
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from crawlerdetect.providers.crawlers import data as CRAWLER_PATTERNS
from crawlerdetect.providers.exclusions import data as EXCLUSION_PATTERNS

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


def _re2(pattern: str, lookahead: str = "(?:") -> str:
    """A crawlerdetect pattern in RE2's syntax: its groups made non-capturing, and its one
    lookahead (RE2 has none), `Yandex(?!Search)`, spelled out as a group that takes the next
    character (`lookahead` opens it; the name leaves that character out)."""
    not_search = "$|[^s]|s(?:$|[^e]|e(?:$|[^a]|a(?:$|[^r]|r(?:$|[^c]|c(?:$|[^h])))))"
    pattern = re.sub(r"(?<!\\)\((?!\?)", "(?:", pattern)
    return pattern.replace("(?!Search)", f"{lookahead}{not_search})")


# crawlerdetect's lists, run by RE2 over many user agents at once: the library's own Python
# search takes about 0.3 ms an agent, and a busy site sees thousands of agents.
_CRAWLER = "(?i)(?P<bot>" + "|".join(_re2(p, "(?P<after>") for p in CRAWLER_PATTERNS) + ")"
_EXCLUSIONS = "(?i)(?:" + "|".join(map(_re2, EXCLUSION_PATTERNS)) + ")"


@dataclass(frozen=True)
class Agent:
    """What a user-agent string says: a bot name (None for a browser), browser, OS, device."""

    bot: str | None
    browser: str
    os: str
    device: str


_EXTRACTORS: tuple | None = None
_EXTRACTORS_LOCK = threading.Lock()


def load_agent_parser() -> tuple:
    """ua-parser's extractors (browser, OS, device; its Rust resolver's, from the regexes it
    ships), built once (about 0.25 s): call it early to build them meanwhile. Safe from any
    thread."""
    global _EXTRACTORS
    with _EXTRACTORS_LOCK:
        if _EXTRACTORS is None:
            # imported here, by the process that parses (a large log's helper): 20 ms less
            # before a run's readers start
            import ua_parser
            import ua_parser.regex

            resolver = ua_parser.regex.Resolver(ua_parser.load_lazy_builtins())
            _EXTRACTORS = (resolver.ua, resolver.os, resolver.de)
    return _EXTRACTORS


def classify_agent(ua: str | None) -> Agent:
    """Bot check (crawlerdetect plus what it misses) and ua-parser's families, for one UA."""
    return classify_agents([ua])[0]


def classify_agents(agents: list[str | None], parsed: list | None = None) -> list[Agent]:
    """`classify_agent` for many user agents, the crawler list checked for all at once
    (`parsed`: ua-parser's answers for them, if already known)."""
    texts = [(ua or "").strip() for ua in agents]
    parsed = parsed if parsed is not None else [parse_agent(ua) for ua in agents]
    listed = listed_crawlers(texts)
    return [_agent(*answers) for answers in zip(texts, parsed, listed, strict=True)]


class Families(NamedTuple):
    """What ua-parser says of a user agent, as far as the report needs it: "Other" for none."""

    browser: str
    os: str
    device: str


def parse_agent(ua: str | None) -> Families | None:
    """ua-parser's answer for a user agent (None for none)."""
    text = (ua or "").strip()
    if text in ("", "-"):
        return None
    # The extractors themselves: every user agent of a run comes here once, so ua-parser's
    # cache and result objects around them would be two thirds of the time.
    found = (extractor.extract(text) for extractor in load_agent_parser())
    return Families(*(match.family if match else "Other" for match in found))


def listed_crawlers(agents: list[str]) -> list[str | None]:
    """What crawlerdetect's list matches in each user agent (the bot's name), else None; as
    crawlerdetect does it: outer whitespace, then its exclusions removed first."""
    agents = pc.utf8_trim_whitespace(pa.array(agents, pa.string()))
    stripped = pc.replace_substring_regex(agents, _EXCLUSIONS, "")
    found = pc.extract_regex(stripped, _CRAWLER).to_pylist()
    return [m["bot"][: len(m["bot"]) - len(m["after"])] if m else None for m in found]


def _agent(text: str, parsed: Families | None, listed: str | None) -> Agent:
    if parsed is None:
        return Agent("(no user agent)", "Other", "Other", "Bot")
    device = _device_class(text, parsed)
    bot = None
    if "HeadlessChrome" in text:
        bot = "HeadlessChrome"
    elif listed is not None:
        bot = listed.strip() or "crawler"
    elif parsed.device == "Spider":
        bot = parsed.browser
    return Agent(bot, parsed.browser, parsed.os, "Bot" if bot else device)


def _device_class(text: str, parsed: Families) -> str:
    family, os_family = parsed.device, parsed.os
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
class ReferrerSource:
    """An external referrer: its host, and its group ("search", "social" or "website")."""

    host: str
    kind: str
    name: str


# The host of a plain http(s) URL (what analytics.anonymise leaves of most referrers), as
# urlsplit finds it; other URLs go through urlsplit (a tenth of the speed).
_PLAIN_HOST = re.compile(r"https?://([A-Za-z0-9.-]+)(?::[0-9]*)?(?:[/?#]|$)")


def referrer_source(referrer: str | None, own_host: str) -> ReferrerSource | None:
    """The external source of a referrer; None for none, the site itself, or junk."""
    if not referrer or referrer == "-":
        return None
    if plain := _PLAIN_HOST.match(referrer):
        host = plain[1].lower()
    else:
        try:
            host = (urlsplit(referrer).hostname or "").lower()
        except ValueError:
            return None
    return _host_source(host, own_host)


@functools.lru_cache(maxsize=4096)
def _host_source(host: str, own_host: str) -> ReferrerSource | None:
    if not host or "." not in host:
        return None
    host = host.removeprefix("www.")
    if own_host and host == own_host.lower().removeprefix("www."):
        return None
    labels = host.split(".")
    for needle, name in SEARCH_ENGINES.items():
        if needle in labels or host.startswith(needle + "."):
            return ReferrerSource(host, "search", name)
    for needle, name in SOCIAL.items():
        if host == needle or host.endswith("." + needle) or needle in labels:
            return ReferrerSource(host, "social", name)
    return ReferrerSource(host, "website", host)


@dataclass(frozen=True)
class AgentLabels:
    """Per user-agent code, one more at the end for rows without one (code -1)."""

    bot: np.ndarray  # the bot's name, "" for a browser
    browser: np.ndarray
    os: np.ndarray
    device: np.ndarray


@dataclass(frozen=True)
class ReferrerLabels:
    """Per referrer code, one more (None) at the end for rows without one (code -1)."""

    host: np.ndarray  # an external referrer's host, None for the site itself or junk
    search_engine: np.ndarray
    social: np.ndarray
    source: np.ndarray  # the group a visit comes from: search engine, network or host


class Labeller:
    """Labels for the codes of a run's vocabularies; each distinct value is classified once."""

    def __init__(self, own_host: str = "") -> None:
        self.own_host = own_host
        self._page = np.zeros(1, bool)  # per path code, and False for -1 at the end
        self._probe = np.zeros(1, bool)
        self._agents: list[Agent] = []
        self._parsed: list = []  # ua-parser's answers, by user-agent code
        self._referrers: list[ReferrerSource | None] = []

    def pages_and_probes(self, paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per path code (and False for -1): whether it is a page, whether it is a probe."""
        new = paths[len(self._page) - 1 :]
        if new:  # (a block brings few new paths: the arrays are not built anew for each)
            self._page = np.concatenate([self._page[:-1], [*map(is_page, new)], [False]])
            self._probe = np.concatenate([self._probe[:-1], [*map(is_probe, new)], [False]])
        return self._page, self._probe

    def agent_labels(self, agents: list[str]) -> AgentLabels:
        self._classify_agents(agents)
        known = [(a.bot or "", a.browser, a.os, a.device) for a in self._agents]
        columns = zip(*known, ("", "Other", "Other", "Other"), strict=True)
        return AgentLabels(*(np.array(column, dtype=object) for column in columns))

    def referrer_labels(self, referrers: list[str]) -> ReferrerLabels:
        for referrer in referrers[len(self._referrers) :]:
            self._referrers.append(referrer_source(referrer, self.own_host))
        sources = [*self._referrers, None]

        def label(pick) -> np.ndarray:
            return np.array([pick(s) if s else None for s in sources], dtype=object)

        return ReferrerLabels(
            host=label(lambda s: s.host),
            search_engine=label(lambda s: s.name if s.kind == "search" else None),
            social=label(lambda s: s.name if s.kind == "social" else None),
            source=label(lambda s: s.name),
        )

    def parse_agents(self, agents: list[str]) -> None:
        """Run ua-parser over the user agents new since the last call: while the log is read,
        so that only the crawler list (one batch) is left for the end."""
        self._parsed.extend(parse_agent(ua) for ua in agents[len(self._parsed) :])

    def classified_elsewhere(self, agents: list[tuple]) -> None:
        """The labels of the first len(agents) user agents (as `Agent` fields), found elsewhere
        (by a helper process: `AgentClassifier`)."""
        self._agents = [Agent(*fields) for fields in agents]

    def _classify_agents(self, agents: list[str]) -> None:
        done = len(self._agents)
        if len(agents) > done:
            self.parse_agents(agents)
            self._agents.extend(classify_agents(agents[done:], self._parsed[done : len(agents)]))


class AgentClassifier:
    """User agents parsed as they come and labelled (in a helper process).

    The crawler list runs over many agents at once (RE2 compiles its 1,500 patterns anew at
    each call, 30 ms): over those waiting once BATCH of them have come, and at the end.
    """

    BATCH = 2000

    def __init__(self) -> None:
        load_agent_parser()
        self.labelled: list[tuple] = []  # Agent fields: plain tuples pass between processes fast
        self._waiting: list[str] = []
        self._parsed: list = []

    def take(self, agents: list[str]) -> None:
        self._waiting.extend(agents)
        self._parsed.extend(map(parse_agent, agents))
        if len(self._waiting) >= self.BATCH:
            self._label_waiting()

    def labels(self) -> list[tuple]:
        self._label_waiting()
        return self.labelled

    def _label_waiting(self) -> None:
        if self._waiting:
            for agent in classify_agents(self._waiting, self._parsed):
                self.labelled.append((agent.bot, agent.browser, agent.os, agent.device))
            self._waiting, self._parsed = [], []


def bot_reasons(
    listed: np.ndarray, robots: np.ndarray, probe: np.ndarray, requests: np.ndarray
) -> np.ndarray:
    """Per visitor key of a day: why it is a bot ("" for a person). The user agent's name from
    the list first, then behaviour: fetched robots.txt, asked for a probe, or too many requests."""
    if not len(listed):
        return np.zeros(0, object)
    return np.select(
        [listed != "", robots.astype(bool), probe.astype(bool), requests > MAX_REQUESTS_PER_DAY],
        [
            listed,
            "(fetched robots.txt)",
            "(vulnerability probes)",
            f"(over {MAX_REQUESTS_PER_DAY} requests a day)",
        ],
        "",
    )

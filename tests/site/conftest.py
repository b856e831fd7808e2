"""Fixtures for the site's tests: the built output read as pages, variant builds, a static host.

Pages come from `shop.site.PAGE_PATHS`, so the tests follow the site as pages are added or moved.
Test functions that take `site_page` run once per page and language; `any_page` adds the 404 page.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from bs4 import BeautifulSoup
from support import ROOT, build_site, write_shop_toml

from shop import config
from shop.site import LANGUAGES, PAGE_PATHS, article_path

NOT_FOUND_PAGE = "404.html"


@dataclass(frozen=True)
class SitePage:
    """One page of the built site: its PAGE_PATHS key, language and URL path."""

    key: str
    lang: str | None
    path: str

    def __str__(self) -> str:
        return f"{self.key}-{self.lang}" if self.lang else self.key

    @property
    def is_article(self) -> bool:
        return self.key.startswith("article-")


SITE_PAGES = [
    SitePage(key, lang, paths[lang])
    for key, paths in PAGE_PATHS.items()
    for lang in LANGUAGES
    if lang in paths
]


def content_metadata(file: Path) -> dict[str, str]:
    """The `Name: value` header of a Markdown content file, names lower case."""
    metadata = {}
    for line in file.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            break
        name, _, value = line.partition(":")
        metadata[name.strip().lower()] = value.strip()
    return metadata


def read_articles() -> list[SitePage]:
    """The published news articles in content/news, at the paths the site gives them."""
    found = []
    for file in sorted((ROOT / "content" / "news").glob("*.md")):
        meta = content_metadata(file)
        if meta.get("status", "published") == "published":
            lang = meta.get("lang", LANGUAGES[0])
            found.append(
                SitePage(f"article-{meta['slug']}", lang, article_path(lang, meta["slug"]))
            )
    return found


ARTICLE_PAGES = read_articles()
ANY_PAGES = [*SITE_PAGES, *ARTICLE_PAGES, SitePage("404", None, "/" + NOT_FOUND_PAGE)]


def pytest_generate_tests(metafunc):
    pages_of = (("site_page", SITE_PAGES), ("article_page", ARTICLE_PAGES), ("any_page", ANY_PAGES))
    for name, pages in pages_of:
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, pages, ids=str)


# Elements whose URL attributes make the browser fetch something (not links to follow).
RESOURCE_ATTRS = {
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "script": ("src",),
    "iframe": ("src",),
    "frame": ("src",),
    "embed": ("src",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "object": ("data",),
    "input": ("src",),
}
RESOURCE_LINK_RELS = {
    "stylesheet",
    "icon",
    "apple-touch-icon",
    "preload",
    "modulepreload",
    "manifest",
}
CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)""", re.S)
CSS_IMPORT = re.compile(r"""@import\s+['"]([^'"]+)['"]""")  # the url() form is caught above
CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)


def srcset_urls(value: str) -> list[str]:
    """The URLs of a srcset attribute ("a.png 1x, b.png 2x")."""
    return [part.split()[0] for part in value.split(",") if part.strip()]


def css_urls(css: str) -> list[str]:
    """Every url() and @import target in a stylesheet (comments removed)."""
    css = CSS_COMMENT.sub("", css)
    return [m.group(2) for m in CSS_URL.finditer(css)] + CSS_IMPORT.findall(css)


def is_other_origin(url: str) -> bool:
    """True for URLs the browser would fetch from a host of their own (the site links root-relative)."""
    parts = urlsplit(url.strip())
    return bool(parts.netloc) or parts.scheme in ("http", "https", "ws", "wss", "ftp")


def parse_headers_file(text: str) -> dict[str, dict[str, str]]:
    """The `_headers` format of static hosts: a path line, then indented `Name: value` lines."""
    rules: dict[str, dict[str, str]] = {}
    current = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            current = rules.setdefault(line.strip(), {})
        elif current is not None and ":" in line:
            name, value = line.split(":", 1)
            current[name.strip().lower()] = value.strip()
    return rules


def path_matches(pattern: str, path: str) -> bool:
    return path.startswith(pattern[:-1]) if pattern.endswith("*") else path == pattern


class BuiltSite:
    """A built output folder, read the way a static host and a browser would."""

    def __init__(self, root: Path, shop: config.ShopConfig):
        self.root = root
        self.shop = shop
        self.articles = ARTICLE_PAGES  # what content/news says the build holds
        self._soups: dict[str, BeautifulSoup] = {}

    def file_for(self, url_path: str) -> Path | None:
        """The file a static host serves for a site path (clean URLs: /x/ -> x/index.html)."""
        path = unquote(urlsplit(url_path).path)
        target = self.root / path.lstrip("/")
        if path.endswith("/") or target.is_dir():
            target = target / "index.html"
        return target if target.is_file() else None

    def site_path(self, url: str, base: str) -> str | None:
        """The site path a URL on page `base` points to; None for other origins and schemes."""
        parts = urlsplit(url.strip())
        own = urlsplit(self.shop.site.url)
        if parts.scheme and parts.scheme not in ("http", "https"):
            return None  # mailto:, tel:, data:
        if parts.netloc and (parts.scheme, parts.netloc) != (own.scheme, own.netloc):
            return None
        return urlsplit(urljoin(base, parts.path or base)).path

    def soup(self, url_path: str) -> BeautifulSoup:
        """The parsed page (parsed once; tests only read it)."""
        if url_path not in self._soups:
            file = self.file_for(url_path)
            assert file is not None, f"{url_path}: no such page in the build"
            self._soups[url_path] = BeautifulSoup(file.read_text(encoding="utf-8"), "html.parser")
        return self._soups[url_path]

    def text(self, url_path: str, selector: str = "body") -> str:
        """Visible text of the elements matching `selector`, whitespace collapsed."""
        parts = [el.get_text(" ") for el in self.soup(url_path).select(selector)]
        return " ".join(" ".join(parts).replace("\xa0", " ").split())

    def html_files(self) -> list[Path]:
        return sorted(self.root.rglob("*.html"))

    def url_path_of(self, file: Path) -> str:
        rel = file.relative_to(self.root).as_posix()
        return "/" + (rel.removesuffix("index.html") if rel.endswith("index.html") else rel)

    def resources(self, url_path: str) -> list[tuple[str, str]]:
        """(description, URL) of everything the page makes the browser fetch, as written."""
        soup = self.soup(url_path)
        found = []
        for tag, attrs in RESOURCE_ATTRS.items():
            for el in soup.find_all(tag):
                for attr in attrs:
                    value = el.get(attr)
                    if not value:
                        continue
                    urls = srcset_urls(value) if attr == "srcset" else [value]
                    found += [(f"<{tag} {attr}>", url) for url in urls]
        for el in soup.find_all("link"):
            if RESOURCE_LINK_RELS & {r.lower() for r in el.get("rel", [])} and el.get("href"):
                found.append((f"<link rel={' '.join(el['rel'])}>", el["href"]))
        for el in soup.find_all(style=True):
            found += [(f"<{el.name} style>", url) for url in css_urls(el["style"])]
        for el in soup.find_all("style"):
            found += [("<style>", url) for url in css_urls(el.get_text())]
        return found

    def stylesheets(self) -> list[Path]:
        return sorted(self.root.rglob("*.css"))

    # The URL helpers, for test modules (which cannot import this conftest).
    css_urls = staticmethod(css_urls)
    srcset_urls = staticmethod(srcset_urls)
    is_other_origin = staticmethod(is_other_origin)

    def header_rules(self) -> dict[str, dict[str, str]]:
        file = self.root / "_headers"
        return parse_headers_file(file.read_text(encoding="utf-8")) if file.is_file() else {}

    def headers_for(self, url_path: str) -> dict[str, str]:
        """The headers `_headers` gives a path (later rules add to earlier ones)."""
        headers: dict[str, str] = {}
        for pattern, values in self.header_rules().items():
            if path_matches(pattern, url_path):
                headers.update(values)
        return headers


@pytest.fixture(scope="session")
def site(built_site) -> BuiltSite:
    """The site built from the repo's content and shop.toml."""
    return BuiltSite(built_site, config.load(ROOT / "shop.toml"))


# Values that differ from the repo's shop.toml and are unlikely to appear in any text by chance.
CHANGED_SETTINGS = {
    "business": {
        "trade_name": "Proefwinkel Zeven",
        "street": "Teststraat 97",
        "postcode": "9799 ZX",
        "city": "Proefdorp",
        "email": "balie@proefwinkel.example",
        "kvk": "87654321",
        # With these, no placeholder is left: the build a search engine sees after go-live.
        "phone": "+31 30 765 4321",
        "btw_id": "NL001234567B01",
        "geo": "52.09074, 5.12142",
        "area_served": ["Proefdorp", "Testwijk"],
        "opening_hours": {
            "monday": "10:00-12:00, 13:00-16:00",
            "wednesday": "by appointment",
            "thursday": "10:00-12:00, 13:00-16:00",
            "saturday": "9:30-13:00",
            "closed_on": [dt.date(2099, 7, 1), [dt.date(2099, 8, 2), dt.date(2099, 8, 15)]],
        },
    },
    "site": {"form_action": "https://forms.proefwinkel.example/api/repair-request"},
    "privacy": {
        "ipv4_prefix": 16,
        "ipv6_prefix": 40,
        "raw_log_retention_days": 11,
        "anonymised_log_retention_days": 19,
        "closed_request_retention_months": 17,
        "open_request_retention_months": 5,
        "newsletter": True,
    },
}


@pytest.fixture(scope="session")
def changed_site(tmp_path_factory) -> BuiltSite:
    """The site built with every fact and privacy setting changed, and the newsletter on."""
    folder = tmp_path_factory.mktemp("changed")
    toml = write_shop_toml(folder / "shop.toml", **CHANGED_SETTINGS)
    return BuiltSite(build_site(folder / "output", shop_toml=toml), config.load(toml))


@pytest.fixture(scope="session")
def no_newsletter_site(tmp_path_factory) -> BuiltSite:
    """The site built with the newsletter off, whatever the repo's shop.toml says."""
    folder = tmp_path_factory.mktemp("no-newsletter")
    toml = write_shop_toml(folder / "shop.toml", privacy={"newsletter": False})
    return BuiltSite(build_site(folder / "output", shop_toml=toml), config.load(toml))


@pytest.fixture(scope="session")
def production_site(tmp_path_factory) -> BuiltSite:
    """The site built with publishconf.py (absolute URLs on the public address)."""
    output = tmp_path_factory.mktemp("production") / "output"
    # publishconf does `from pelicanconf import *`, which would reuse whatever pelicanconf an
    # earlier build (perhaps with another shop.toml) left in sys.modules.
    sys.modules.pop("pelicanconf", None)
    build_site(output, settings_file="publishconf.py")
    return BuiltSite(output, config.load(ROOT / "shop.toml"))


class StaticHostHandler(http.server.SimpleHTTPRequestHandler):
    """Serves like a static host: the `_headers` rules on every response, 404.html for misses."""

    site: BuiltSite

    def end_headers(self):
        for name, value in self.site.headers_for(urlsplit(self.path).path).items():
            self.send_header(name, value)
        super().end_headers()

    def send_error(self, code, message=None, explain=None):
        page = self.site.root / NOT_FOUND_PAGE
        if code != 404 or not page.is_file():
            return super().send_error(code, message, explain)
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="session")
def static_host(site) -> Iterator[str]:
    """Base URL of the built site served with its `_headers` (CSP included) and its 404 page."""
    handler = type("Handler", (StaticHostHandler,), {"site": site})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(site.root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()

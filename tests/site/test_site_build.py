"""The built site's structure: pages, languages, links, origins, weight, sitemap, robots, headers."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest
from e2e.harness import load_render

from shop.site import LANGUAGES, PAGE_PATHS

WEIGHT_BUDGET = 30_000  # bytes, uncompressed: "at most 30 KB" in either reading of KB


def other_lang(lang: str) -> str:
    return next(other for other in LANGUAGES if other != lang)


def test_every_page_exists_in_every_language(site):
    missing = [
        f"{key} ({lang}): {paths[lang]}"
        for key, paths in PAGE_PATHS.items()
        for lang in LANGUAGES
        if site.file_for(paths.get(lang, f"/<no {lang} path>/")) is None
    ]
    assert not missing, "pages missing from the build:\n" + "\n".join(missing)


def test_not_found_page_exists(site):
    assert (site.root / "404.html").is_file()


def test_html_lang_is_the_page_language(site, site_page):
    assert site.soup(site_page.path).html.get("lang") == site_page.lang


def test_not_found_page_has_a_site_language(site):
    assert site.soup("/404.html").html.get("lang") in LANGUAGES


def test_page_has_title_description_and_viewport(site, any_page):
    soup = site.soup(any_page.path)
    assert soup.title and soup.title.get_text(strip=True), "no <title>"
    description = soup.find("meta", attrs={"name": "description"})
    assert description and description.get("content", "").strip(), "no meta description"
    viewport = soup.find("meta", attrs={"name": "viewport"})
    assert viewport and "width=device-width" in viewport.get("content", ""), "no viewport meta"


def test_titles_are_unique_per_language(site):
    for lang in LANGUAGES:
        titles = [
            site.soup(paths[lang]).title.get_text(strip=True) for paths in PAGE_PATHS.values()
        ]
        assert len(set(titles)) == len(titles), f"{lang}: duplicate titles {titles}"


def test_page_declares_its_translation(site, site_page):
    """A <link rel=alternate hreflang> to the other language's version, for search engines."""
    other = other_lang(site_page.lang)
    soup = site.soup(site_page.path)
    alternates = {
        el.get("hreflang"): site.site_path(el["href"], site_page.path)
        for el in soup.find_all("link", rel="alternate", hreflang=True, href=True)
    }
    assert alternates.get(other) == PAGE_PATHS[site_page.key][other], alternates


def test_page_links_to_its_translation(site, site_page):
    """The visible language switch: an <a> to the same page in the other language."""
    other = other_lang(site_page.lang)
    soup = site.soup(site_page.path)
    switches = [
        a
        for a in soup.find_all("a", href=True)
        if site.site_path(a["href"], site_page.path) == PAGE_PATHS[site_page.key][other]
    ]
    assert switches, "no link to the translation"
    # WCAG 3.1.2: "English" on a Dutch page is English text.
    assert any(a.get("lang") == other for a in switches), "language switch lacks lang"


def test_internal_links_resolve(site):
    """Every <a>/<link>/src/srcset/form target on our own site is a file in the output."""
    broken = []
    for file in site.html_files():
        base = site.url_path_of(file)
        soup = site.soup(base)
        urls = [a["href"] for a in soup.find_all(["a", "area", "link"], href=True)]
        urls += [el["src"] for el in soup.find_all(src=True)]
        urls += [u for el in soup.find_all(srcset=True) for u in site.srcset_urls(el["srcset"])]
        urls += [el["poster"] for el in soup.find_all(poster=True)]
        urls += [el["data"] for el in soup.find_all("object", data=True)]
        # The repair form posts to the handler, which is not a static file.
        urls += [
            f["action"]
            for f in soup.find_all("form", action=True)
            if f["action"] != site.shop.site.form_action
        ]
        for url in urls:
            path = site.site_path(url, base)
            if path is not None and site.file_for(path) is None:
                broken.append(f"{base}: {url}")
            fragment = urlsplit(url).fragment
            if url.startswith("#") and fragment and not soup.find(id=fragment):
                broken.append(f"{base}: {url} (no element with that id)")
    assert not broken, "links to nothing:\n" + "\n".join(broken)


def test_not_found_page_links_home(site):
    soup = site.soup("/404.html")
    targets = {site.site_path(a["href"], "/404.html") for a in soup.find_all("a", href=True)}
    assert targets & set(PAGE_PATHS["home"].values())


def test_not_found_page_links_are_root_relative(site):
    """404.html is served at any depth, so a relative link would break on /a/b/missing."""
    soup = site.soup("/404.html")
    urls = [el.get("href") or el.get("src") for el in soup.find_all(["a", "link", "img"])]
    relative = [u for u in urls if u and not (u.startswith(("/", "#")) or urlsplit(u).scheme)]
    assert not relative


def test_stylesheet_urls_resolve(site):
    broken = []
    for css in site.stylesheets():
        base = site.url_path_of(css)
        for url in site.css_urls(css.read_text(encoding="utf-8")):
            path = site.site_path(url, base)
            if path is not None and not url.startswith("data:") and site.file_for(path) is None:
                broken.append(f"{base}: {url}")
    assert not broken


def test_no_resource_from_another_origin(site):
    foreign = [
        f"{site.url_path_of(file)}: {what} {url}"
        for file in site.html_files()
        for what, url in site.resources(site.url_path_of(file))
        if site.is_other_origin(url)
    ]
    foreign += [
        f"{site.url_path_of(css)}: url()/@import {url}"
        for css in site.stylesheets()
        for url in site.css_urls(css.read_text(encoding="utf-8"))
        if site.is_other_origin(url)
    ]
    assert not foreign, "loaded from another origin:\n" + "\n".join(foreign)


def test_production_build_loads_only_from_its_own_site(production_site):
    """publishconf.py writes absolute URLs; each must be on the public address and exist."""
    site = production_site
    wrong = []
    for file in site.html_files():
        base = site.url_path_of(file)
        for what, url in site.resources(base):
            if url.startswith("data:"):
                continue
            path = site.site_path(url, base)
            if path is None or site.file_for(path) is None:
                wrong.append(f"{base}: {what} {url}")
    assert not wrong, f"not a file on {site.shop.site.url}:\n" + "\n".join(wrong)


def test_no_web_fonts(site):
    """System fonts only: no @font-face anywhere."""
    with_fonts = [css.name for css in site.stylesheets() if "@font-face" in css.read_text()]
    assert not with_fonts


def test_dark_and_print_styles_exist(site):
    css = "\n".join(css.read_text(encoding="utf-8") for css in site.stylesheets())
    assert re.search(r"prefers-color-scheme\s*:\s*dark", css), "no dark colour scheme"
    assert re.search(r"@media[^{]*\bprint\b", css), "no print stylesheet"


def page_weight(site, url_path: str) -> dict[str, int]:
    """Bytes of the page and of every file it loads (stylesheets with what they load in turn)."""
    weights = {url_path: site.file_for(url_path).stat().st_size}
    pending = [(url, url_path) for _, url in site.resources(url_path)]
    soup = site.soup(url_path)
    if not soup.find("link", rel=lambda rel: rel and "icon" in rel):
        pending.append(("/favicon.ico", url_path))  # what browsers ask for without an icon link
    while pending:
        url, base = pending.pop()
        path = site.site_path(url, base)
        file = site.file_for(path) if path and not url.startswith("data:") else None
        if file is None or path in weights:
            continue
        weights[path] = file.stat().st_size
        if file.suffix == ".css":
            pending += [(u, path) for u in site.css_urls(file.read_text(encoding="utf-8"))]
    return weights


def test_page_weight_within_budget(site, any_page):
    weights = page_weight(site, any_page.path)
    total = sum(weights.values())
    detail = ", ".join(f"{path} {size} B" for path, size in weights.items())
    assert total <= WEIGHT_BUDGET, f"{any_page.path}: {total} B > {WEIGHT_BUDGET} B ({detail})"


def test_no_scripts_or_inline_handlers(site):
    found = []
    for file in site.html_files():
        path = site.url_path_of(file)
        soup = site.soup(path)
        # JSON-LD is a data block: browsers never run it (and the CSP does not apply to it).
        found += [
            f"{path}: <script type={el.get('type')}>"
            for el in soup.find_all("script")
            if el.get("type") != "application/ld+json" or el.get("src")
        ]
        for el in soup.find_all(True):
            found += [f"{path}: <{el.name} {a}>" for a in el.attrs if a.lower().startswith("on")]
            found += [
                f"{path}: <{el.name} {a}=javascript:>"
                for a, v in el.attrs.items()
                if isinstance(v, str) and v.strip().lower().startswith("javascript:")
            ]
    assert not found


def noindex(site, path: str) -> bool:
    if site.file_for(path) is None:
        return False  # a missing page is reported by test_every_page_exists_in_every_language
    robots = site.soup(path).find("meta", attrs={"name": "robots"})
    return bool(robots and "noindex" in robots.get("content", "").lower())


def test_sitemap_lists_every_page_in_both_languages(site):
    tree = ET.parse(site.root / "sitemap.xml")
    ns = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locs = [el.text.strip() for el in tree.getroot().findall("sm:url/sm:loc", ns)]
    own = urlsplit(site.shop.site.url)
    assert all(
        (urlsplit(loc).scheme, urlsplit(loc).netloc) == (own.scheme, own.netloc) for loc in locs
    ), f"sitemap URLs must be absolute on {site.shop.site.url}: {locs}"
    listed = {urlsplit(loc).path for loc in locs}
    indexable = {
        paths[lang]
        for paths in PAGE_PATHS.values()
        for lang in LANGUAGES
        if not noindex(site, paths[lang])
    } | {article.path for article in site.articles}
    assert indexable <= listed, f"missing from sitemap.xml: {sorted(indexable - listed)}"
    assert listed <= indexable, (
        f"in sitemap.xml but noindex or unknown: {sorted(listed - indexable)}"
    )


def test_robots_txt_points_to_the_sitemap(site):
    robots = (site.root / "robots.txt").read_text(encoding="utf-8")
    sitemap = site.shop.site.url.rstrip("/") + "/sitemap.xml"
    assert re.search(rf"^Sitemap:\s*{re.escape(sitemap)}\s*$", robots, re.M | re.I), robots
    assert not re.search(r"^Disallow:\s*/\s*$", robots, re.M | re.I), "the whole site is blocked"


def csp_directives(csp: str) -> dict[str, list[str]]:
    parts = (d.split() for d in csp.split(";") if d.strip())
    return {p[0].lower(): p[1:] for p in parts}


def form_origin(form_action: str) -> str:
    parts = urlsplit(form_action)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "'self'"


@pytest.mark.parametrize("name", ["default", "changed"])
def test_headers_file_carries_the_security_headers(request, name):
    site = request.getfixturevalue("site" if name == "default" else "changed_site")
    headers = site.headers_for("/")
    missing = {
        "content-security-policy",
        "referrer-policy",
        "permissions-policy",
        "x-content-type-options",
        "strict-transport-security",
    } - set(headers)
    assert not missing, f"_headers lacks for /: {sorted(missing)}"
    csp = csp_directives(headers["content-security-policy"])
    allowed = csp.get("form-action", [])
    assert form_origin(site.shop.site.form_action) in allowed, f"form-action {allowed}"
    scripts = csp.get("script-src", csp.get("default-src", ["*"]))
    assert not {"*", "'unsafe-inline'", "'unsafe-eval'", "http:", "https:"} & set(scripts)
    assert headers["x-content-type-options"].lower() == "nosniff"
    assert re.search(r"max-age=\d{7,}", headers["strict-transport-security"])
    assert headers["referrer-policy"] in {
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    }
    assert "=()" in headers["permissions-policy"]


NGINX_HEADER = re.compile(r"""^\s*add_header\s+([\w-]+)\s+("[^"]*"|'[^']*'|[^\s;]+)""", re.M)


@pytest.mark.parametrize("name", ["default", "changed"])
def test_nginx_snippet_sends_the_same_headers(request, tmp_path, name):
    """deploy/render.py gives nginx the same security headers as _headers gives static hosts,
    for the same shop.toml (also when form_action is on another host)."""
    site = request.getfixturevalue("site" if name == "default" else "changed_site")
    load_render().render_nginx(tmp_path, site.shop)
    snippet = (tmp_path / "security-headers.conf").read_text(encoding="utf-8")
    nginx = {
        name.lower(): value[1:-1] if value[0] in "\"'" else value
        for name, value in NGINX_HEADER.findall(snippet)
    }
    assert nginx == site.headers_for("/")

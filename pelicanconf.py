"""Pelican settings for development builds; the shop's facts come from shop.toml."""

from shop import config, headers, hours, site

SHOP_CONFIG = config.load()
SHOP = SHOP_CONFIG.as_dict()

SITENAME = SHOP_CONFIG.business.trade_name
SITEURL = ""
RELATIVE_URLS = False
PATH = "content"
THEME = str(site.THEME)
THEME_STATIC_DIR = "theme"
TIMEZONE = site.TIME_ZONE
DEFAULT_LANG = site.DEFAULT_LANG
LANGUAGES = site.LANGUAGES
SITE_PAGES = site.PAGE_PATHS  # page key -> {lang: path}; templates link with it
FORM_ACTION = SHOP_CONFIG.site.form_action
# content/extra/_headers lists them for static hosts; shop/headers.py is their one home.
SECURITY_HEADERS = headers.security_headers(FORM_ACTION)
_b = SHOP_CONFIG.business
ROUTE_URL = site.route_url(_b.geo or f"{_b.street}, {_b.postcode} {_b.city}, {_b.country}")

PLUGINS = ["shop.pelican_plugin"]
JINJA_FILTERS = {"date_text": hours.date_text}  # article dates in the page's language

# Pages, plus news articles in content/news (nl and en, linked by a shared `Key:`), with an Atom
# feed per language; no author/tag/category archives. The news index is a page (news.html).
ARTICLE_PATHS = ["news"]
PAGE_PATHS = ["pages"]
ARTICLE_TRANSLATION_ID = "key"  # shop.pelican_plugin defaults it to the slug
AUTHOR = SITENAME  # feeds name an author for every entry
DEFAULT_CATEGORY = "news"
DIRECT_TEMPLATES = ["sitemap"]  # shop/theme/templates/sitemap.html
SITEMAP_SAVE_AS = "sitemap.xml"
FEED_ALL_ATOM = None
CATEGORY_FEED_ATOM = None
TRANSLATION_FEED_ATOM = site.feed_path("{lang}").lstrip("/")
# Feeds carry absolute links: in development (SITEURL "") the public address.
FEED_DOMAIN = SHOP_CONFIG.site.url.rstrip("/")
FEED_PATHS = {lang: site.feed_path(lang) for lang in site.LANGUAGES}
FEED_MAX_ITEMS = 20
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None
AUTHOR_SAVE_AS = ""
AUTHORS_SAVE_AS = ""
CATEGORY_SAVE_AS = ""
CATEGORIES_SAVE_AS = ""
TAG_SAVE_AS = ""
TAGS_SAVE_AS = ""
ARCHIVES_SAVE_AS = ""
INDEX_SAVE_AS = ""
PAGE_URL = "{slug}/"
PAGE_SAVE_AS = "{slug}/index.html"
PAGE_LANG_URL = "{lang}/{slug}/"
PAGE_LANG_SAVE_AS = "{lang}/{slug}/index.html"
# shop.pelican_plugin places articles under PAGE_PATHS["news"]; drafts are not written at all.
DRAFT_SAVE_AS = ""
DRAFT_LANG_SAVE_AS = ""

# content/extra holds templates rendered with these settings, so robots.txt names the public
# sitemap URL and _headers allows the form handler's origin in the CSP (form-action).
TEMPLATE_PAGES = {"extra/robots.txt": "robots.txt", "extra/_headers": "_headers"}
STATIC_PATHS = []
EXTRA_PATH_METADATA = {}

DEFAULT_PAGINATION = False
DELETE_OUTPUT_DIRECTORY = False

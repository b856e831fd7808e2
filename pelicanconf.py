"""Pelican settings for development builds; the shop's facts come from shop.toml."""

from shop import config, site

SHOP_CONFIG = config.load()
SHOP = SHOP_CONFIG.as_dict()

SITENAME = SHOP_CONFIG.business.trade_name
SITEURL = ""
RELATIVE_URLS = False
PATH = "content"
THEME = "theme"
THEME_STATIC_DIR = "theme"
TIMEZONE = "Europe/Amsterdam"
DEFAULT_LANG = site.DEFAULT_LANG
LANGUAGES = site.LANGUAGES
SITE_PAGES = site.PAGE_PATHS  # page key -> {lang: path}; templates link with it
FORM_ACTION = SHOP_CONFIG.site.form_action

PLUGINS = ["shop.pelican_plugin"]

# A brochure site: pages only, no blog, no feeds, no author/tag/category archives.
ARTICLE_PATHS = []
PAGE_PATHS = ["pages"]
DIRECT_TEMPLATES = ["sitemap"]  # theme/templates/sitemap.html
SITEMAP_SAVE_AS = "sitemap.xml"
FEED_ALL_ATOM = None
CATEGORY_FEED_ATOM = None
TRANSLATION_FEED_ATOM = None
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None
AUTHOR_SAVE_AS = ""
AUTHORS_SAVE_AS = ""
CATEGORY_SAVE_AS = ""
CATEGORIES_SAVE_AS = ""
TAG_SAVE_AS = ""
TAGS_SAVE_AS = ""
ARCHIVES_SAVE_AS = ""
PAGE_URL = "{slug}/"
PAGE_SAVE_AS = "{slug}/index.html"
PAGE_LANG_URL = "{lang}/{slug}/"
PAGE_LANG_SAVE_AS = "{lang}/{slug}/index.html"

# content/extra holds templates rendered with these settings, so robots.txt names the public
# sitemap URL and _headers allows the form handler's origin in the CSP (form-action).
TEMPLATE_PAGES = {"extra/robots.txt": "robots.txt", "extra/_headers": "_headers"}
STATIC_PATHS = []
EXTRA_PATH_METADATA = {}

DEFAULT_PAGINATION = False
DELETE_OUTPUT_DIRECTORY = False

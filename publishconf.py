"""Production settings: pelicanconf plus the public URL and absolute links."""

import os
import sys

sys.path.append(os.curdir)
from pelicanconf import *  # noqa: F403

SITEURL = SHOP_CONFIG.site.url.rstrip("/")  # noqa: F405
RELATIVE_URLS = False
DELETE_OUTPUT_DIRECTORY = True

"""The site's security headers and its Content-Security-Policy: their one home.

Everything that sends them is generated from here: `_headers` for static hosts (Pelican renders
content/extra/_headers with `SECURITY_HEADERS`), nginx's security-headers.conf (deploy/render.py
writes it) and the form handler (repairs/headers.py); /stats/ adds to them (analytics/headers.py).
"""

from __future__ import annotations

from urllib.parse import urlsplit

# Directive -> sources. form-action 'self' assumes the handler runs on the site's host; when
# shop.toml [site] form_action is an absolute URL, its origin is added (`security_headers`).
CSP = {
    "default-src": ("'self'",),
    "img-src": ("'self'", "data:"),
    "style-src": ("'self'",),
    "script-src": ("'self'",),
    "form-action": ("'self'",),
    "frame-ancestors": ("'none'",),
    "base-uri": ("'self'",),
    "object-src": ("'none'",),
}
OTHER_HEADERS = {
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "X-Content-Type-Options": "nosniff",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}


def origin_of(url: str) -> str:
    """scheme://host[:port] of an absolute URL, "" for a path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy(extra_sources: dict[str, tuple[str, ...]] | None = None) -> str:
    """The CSP, with `extra_sources` (directive -> sources) added to the site's own."""
    extra_sources = extra_sources or {}
    return "; ".join(
        " ".join((directive, *sources, *extra_sources.get(directive, ())))
        for directive, sources in CSP.items()
    )


def security_headers(form_action: str = "", asset_origin: str = "") -> dict[str, str]:
    """Header name -> value. `form_action`: shop.toml [site] form_action (its origin, when it has
    one, may receive the form); `asset_origin`: another origin the CSS and images come from."""
    extra = {}
    if origin_of(form_action):
        extra["form-action"] = (origin_of(form_action),)
    if asset_origin:
        extra["style-src"] = extra["img-src"] = (asset_origin,)
    return {"Content-Security-Policy": content_security_policy(extra), **OTHER_HEADERS}

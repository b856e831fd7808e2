"""Security headers on every response of the handler (and of the site it serves in a preview).

The set is the site's own, read from deploy/nginx/security-headers.conf (the file the static
site's `_headers` matches), so handler and site never drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from repairs.settings import Settings
from shop.config import ROOT

SITE_HEADERS_FILE = ROOT / "deploy" / "nginx" / "security-headers.conf"
_ADD_HEADER = re.compile(r'^\s*add_header\s+([\w-]+)\s+"([^"]*)"', re.MULTILINE)
# Used only when the deploy folder is not there (an installed copy without the repository).
FALLBACK = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "object-src 'none'",
    "referrer-policy": "strict-origin-when-cross-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "x-content-type-options": "nosniff",
    "strict-transport-security": "max-age=31536000; includeSubDomains",
}


def origin_of(url: str) -> str:
    """scheme://host[:port] of an absolute URL, "" for a path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def site_headers(path: Path = SITE_HEADERS_FILE) -> dict[str, str]:
    """The site's security headers (lower-case names), from the nginx snippet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return dict(FALLBACK)
    return {name.lower(): value for name, value in _ADD_HEADER.findall(text)} or dict(FALLBACK)


def security_headers(settings: Settings, path: Path = SITE_HEADERS_FILE) -> dict[str, str]:
    """The site's set; when the site lives on another origin its CSS and images are allowed too."""
    headers = site_headers(path)
    site = origin_of(settings.site_url)
    csp = headers.get("content-security-policy")
    if site and csp:
        headers["content-security-policy"] = _allow(csp, site, ("style-src", "img-src"))
    headers["x-frame-options"] = "DENY"  # for browsers without frame-ancestors
    return headers


def _allow(csp: str, origin: str, directives: tuple[str, ...]) -> str:
    parts = []
    for part in csp.split(";"):
        name = part.split()[0] if part.split() else ""
        parts.append(f"{part.strip()} {origin}" if name in directives else part.strip())
    return "; ".join(parts)


def preview_headers(settings: Settings) -> dict[str, dict[str, str]]:
    """Path prefix -> headers when the handler also serves the built site: the site's set, and
    the report's under /stats/ (analytics.headers, the same rules as nginx's /stats/)."""
    from analytics.headers import DASHBOARD, STATS_PATH, stats_headers

    site = security_headers(settings)
    return {
        "/": site,
        STATS_PATH: stats_headers(site),
        STATS_PATH + DASHBOARD: stats_headers(site, dashboard=True),
    }


class SecurityHeaders:
    """Pure ASGI middleware (no per-request task overhead) that adds the headers it lacks.

    `by_prefix`: path prefix -> the headers for paths under it (the longest prefix applies).
    """

    def __init__(self, app: ASGIApp, by_prefix: dict[str, dict[str, str]]) -> None:
        self.app = app
        self.by_prefix = sorted(
            (
                (prefix, [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in h.items()])
                for prefix, h in by_prefix.items()
            ),
            key=lambda item: -len(item[0]),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        path = scope["path"]
        headers = next((h for prefix, h in self.by_prefix if path.startswith(prefix)), [])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in headers if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

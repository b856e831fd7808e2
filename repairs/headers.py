"""Security headers on every response of the handler (and of the site it serves in a preview).

The set is the site's own, from shop.headers (where `_headers` and nginx's snippet come from too),
so handler and site never drift apart.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from repairs.settings import Settings
from shop import headers as site_headers


def security_headers(settings: Settings) -> dict[str, str]:
    """The site's set (lower-case names); when the site lives on another origin its CSS and
    images are allowed too."""
    headers = site_headers.security_headers(asset_origin=site_headers.origin_of(settings.site_url))
    headers["X-Frame-Options"] = "DENY"  # for browsers without frame-ancestors
    return {name.lower(): value for name, value in headers.items()}


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

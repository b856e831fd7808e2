"""The HTTP headers for the report where it is served: nginx's /stats/ (deploy/render.py writes
them into stats-headers.conf) and the demo (`repairs serve --site`).

The report pages need nothing inline, so they are served under the site's own CSP, with one
addition for goaccess.html only: `'unsafe-eval'` in script-src, because GoAccess's dashboard
compiles its Mustache templates with Hogan.js (`new Function`). Never 'unsafe-inline': an inline
script, e.g. one smuggled into a log line, still does not run. All of /stats/ is private to the
owner: no search engine indexes it and no cache keeps it.
"""

from __future__ import annotations

STATS_PATH = "/stats/"  # where the site serves the report (nginx location, the demo's folder)
DASHBOARD = "goaccess.html"
PRIVATE_HEADERS = {"X-Robots-Tag": "noindex, nofollow", "Cache-Control": "private, no-store"}


def stats_headers(site_headers: dict[str, str], dashboard: bool = False) -> dict[str, str]:
    """The site's headers plus the private ones; for GoAccess's dashboard (`dashboard=True`)
    with 'unsafe-eval' added to the CSP's script-src."""
    headers = dict(site_headers)
    if dashboard:
        for name, value in headers.items():
            if name.lower() == "content-security-policy":
                headers[name] = _add_source(value, "script-src", "'unsafe-eval'")
    return {**headers, **PRIVATE_HEADERS}


def _add_source(csp: str, directive: str, source: str) -> str:
    """`csp` with `source` added to `directive` (which must be there)."""
    parts = [part.strip() for part in csp.split(";") if part.strip()]
    names = [part.split()[0] for part in parts]
    if directive not in names:
        raise ValueError(f"the CSP has no {directive} to add {source} to: {csp}")
    i = names.index(directive)
    parts[i] = f"{parts[i]} {source}"
    return "; ".join(parts)

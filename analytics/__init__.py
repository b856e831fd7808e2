"""Cookieless visitor statistics from web server logs: read, anonymise, classify, aggregate, report.

    from analytics import analyse
    stats = analyse(["/var/log/nginx/access.log"])  # the dict stats.json holds

The names below load on first use, so `import analytics` (and `analytics --help`) stays quick.
"""

from __future__ import annotations

__all__ = ["analyse", "anonymise_logs", "count_days", "write_report_files"]


def __getattr__(name: str):
    if name in __all__:
        from analytics import analysis

        return getattr(analysis, name)
    raise AttributeError(f"module 'analytics' has no attribute {name!r}")

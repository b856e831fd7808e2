"""GoAccess's dashboard and JSON, run on anonymised lines only (so not even GoAccess sees a full IP).

Debian 12 ships goaccess 1.7: no `.gz` input, no `--jobs`; lines go in on stdin.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

BASE_ARGS = ["--log-format=COMBINED", "--no-global-config", "--no-progress"]


class GoAccessNotFound(Exception):
    """The `goaccess` program is not installed."""


class GoAccessError(Exception):
    """goaccess ran and failed; the message holds what it printed."""


def build_dashboard(anonymised_log: Path, out_html: Path) -> None:
    """Write GoAccess's HTML dashboard of `anonymised_log` to `out_html`."""
    out_html = Path(out_html)
    # goaccess writes its output as it goes; a failed run must not leave half a dashboard behind.
    partial = out_html.with_name(out_html.name + ".part.html")
    try:
        _run(anonymised_log, ["-o", str(partial)])
        partial.replace(out_html)
    finally:
        partial.unlink(missing_ok=True)


def goaccess_json(anonymised_log: Path) -> dict:
    """GoAccess's JSON report of `anonymised_log` (panels `general`, `visitors`, `requests`, ...)."""
    output = _run(anonymised_log, ["-o", "json"])
    try:
        return json.loads(output)
    except json.JSONDecodeError as e:
        raise GoAccessError(f"goaccess printed no valid JSON: {e}") from None


def _run(log: Path, output_args: list[str]) -> str:
    program = shutil.which("goaccess")
    if program is None:
        raise GoAccessNotFound(
            "goaccess is not installed: install it (Debian: sudo apt-get install goaccess) "
            "or pass --no-goaccess to skip the GoAccess dashboard"
        )
    with open(log, "rb") as stdin:
        done = subprocess.run(
            [program, *BASE_ARGS, *output_args, "-"],
            stdin=stdin,
            capture_output=True,
            check=False,
        )
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
        raise GoAccessError(f"goaccess failed on {log}: {message}")
    return done.stdout.decode("utf-8", "replace")

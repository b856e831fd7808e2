"""GoAccess's dashboard and JSON, run on anonymised lines only (so not even GoAccess sees a full IP).

Debian 12 ships goaccess 1.7: no `.gz` input, no `--jobs`; lines go in on stdin, decompressed here.

GoAccess writes one HTML file with its CSS, icon font, data and scripts inline, which the site's
CSP (script-src 'self', style-src 'self') blocks. Its data changes with every run, so a CSP hash
of the inline script would have to change in the web server's config every night. Instead the
dashboard is rewritten to need nothing inline: scripts to goaccess.js, styles to goaccess.css,
the icon font to goaccess-icons.woff, style attributes to data-style (applied through the CSSOM by
goaccess-csp.js). What it still needs is 'unsafe-eval' (analytics.headers): its Mustache
templates are compiled by Hogan.js with `new Function`.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import re
import shutil
import subprocess
import tempfile
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path

from shop.files import write_whole

Logs = Path | Sequence[Path]

BASE_ARGS = ["--log-format=COMBINED", "--no-global-config", "--no-progress"]
CSP_SHIM = Path(__file__).parent / "templates" / "goaccess-csp.js"
# The files written beside goaccess.html (the dashboard links them by these names).
SCRIPT, STYLESHEET, ICON_FONT = "goaccess.js", "goaccess.css", "goaccess-icons.woff"

_INLINE_SCRIPT = re.compile(
    r"<script(?:\s+type=['\"]text/javascript['\"])?\s*>(?P<code>.*?)</script>", re.S | re.I
)
_STYLE_ELEMENT = re.compile(r"<style[^>]*>(?P<css>.*?)</style>", re.S | re.I)
_STYLE_ATTRIBUTE = re.compile(r"""(?<=\s)style=(?P<value>"[^"]*"|'[^']*')""", re.I)
_FONT_DATA_URL = re.compile(r"url\(data:application/(?:x-)?font-woff[^,)]*;base64,(?P<b64>[^)]+)\)")
# The one place GoAccess 1.7's charts set a style attribute from script (legend hover).
_SCRIPT_STYLE_ATTR = ".attr('style', op)"
_SCRIPT_STYLE_CSSOM = ".each(function () { this.style.cssText = op; })"


class GoAccessNotFound(Exception):
    """The `goaccess` program is not installed."""


class GoAccessError(Exception):
    """goaccess ran and failed; the message holds what it printed."""


def build_dashboard(anonymised_log: Logs, out_html: Path) -> None:
    """Write GoAccess's HTML dashboard of `anonymised_log` (a file or files, .gz too) to `out_html`."""
    out_html = Path(out_html)
    # goaccess writes its output as it goes; a failed run must not leave half a dashboard behind.
    partial = out_html.with_name(out_html.name + ".part.html")
    try:
        _run(anonymised_log, ["-o", str(partial)])
        html, assets = without_inline_code(partial.read_text(encoding="utf-8"))
        for name, data in assets.items():  # first the files the new page links to
            write_whole(out_html.with_name(name), data)
        write_whole(out_html, html)
    finally:
        partial.unlink(missing_ok=True)


def without_inline_code(html: str) -> tuple[str, dict[str, bytes]]:
    """GoAccess's dashboard rewritten to need nothing inline, and the files it now links to."""
    scripts = list(_INLINE_SCRIPT.finditer(html))  # first: the log's data is in them
    if not scripts:
        raise GoAccessError("goaccess wrote a dashboard without inline scripts")
    code = ";\n".join([CSP_SHIM.read_text(encoding="utf-8"), *(m["code"] for m in scripts)])
    code = code.replace(_SCRIPT_STYLE_ATTR, _SCRIPT_STYLE_CSSOM)
    # One script element where the last inline one was (the end of the body).
    last = scripts[-1]
    html = html[: last.start()] + f'<script src="{SCRIPT}"></script>' + html[last.end() :]
    html = _INLINE_SCRIPT.sub("", html)
    fonts: dict[str, bytes] = {}

    def font_file(match: re.Match) -> str:
        name = ICON_FONT if not fonts else ICON_FONT.replace(".", f"-{len(fonts)}.", 1)
        fonts[name] = base64.b64decode(match["b64"])
        return f"url({name})"

    css = _FONT_DATA_URL.sub(font_file, "\n".join(m["css"] for m in _STYLE_ELEMENT.finditer(html)))
    html = _STYLE_ELEMENT.sub("", html)
    html = html.replace("</title>", f'</title><link rel="stylesheet" href="{STYLESHEET}">', 1)
    html = _STYLE_ATTRIBUTE.sub(r"data-style=\g<value>", html)
    return html, {SCRIPT: code.encode("utf-8"), STYLESHEET: css.encode("utf-8"), **fonts}


def goaccess_json(anonymised_log: Logs) -> dict:
    """GoAccess's JSON report of `anonymised_log` (panels `general`, `visitors`, `requests`, ...)."""
    output = _run(anonymised_log, ["-o", "json"])
    try:
        return json.loads(output)
    except json.JSONDecodeError as e:
        raise GoAccessError(f"goaccess printed no valid JSON: {e}") from None


def _run(logs: Logs, output_args: list[str]) -> str:
    program = shutil.which("goaccess")
    if program is None:
        raise GoAccessNotFound(
            "goaccess is not installed: install it (Debian: sudo apt-get install goaccess) "
            "or pass --no-goaccess to skip the GoAccess dashboard"
        )
    paths = [Path(logs)] if isinstance(logs, str | Path) else [Path(p) for p in logs]
    feed_error: list[BaseException] = []
    with tempfile.TemporaryFile() as errors:  # a file: goaccess never blocks on a full pipe
        process = subprocess.Popen(
            [program, *BASE_ARGS, *output_args, "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        feeder = threading.Thread(target=_feed, args=(paths, process.stdin, feed_error))
        feeder.start()
        output = process.stdout.read()
        process.stdout.close()
        returncode = process.wait()
        feeder.join()
        errors.seek(0)
        message = errors.read().decode("utf-8", "replace").strip()
    names = ", ".join(str(p) for p in paths) or "no lines"
    if feed_error:
        raise GoAccessError(f"cannot read {names}: {feed_error[0]}")
    if returncode != 0:
        raise GoAccessError(f"goaccess failed on {names}: {message or f'exit status {returncode}'}")
    return output.decode("utf-8", "replace")


def _feed(paths: list[Path], stdin, failed: list[BaseException]) -> None:
    """Copy the logs, decompressed, into goaccess's stdin; then close it."""
    try:
        for path in paths:
            with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as log:
                shutil.copyfileobj(log, stdin, 1 << 20)
    except BrokenPipeError:
        pass  # goaccess stopped reading: its exit status tells why
    except (OSError, EOFError, zlib.error) as e:
        failed.append(e)
    finally:
        with contextlib.suppress(BrokenPipeError):
            stdin.close()

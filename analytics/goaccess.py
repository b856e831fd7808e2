"""GoAccess's dashboard and JSON, run on anonymised lines only (so not even GoAccess sees a full IP).

Debian 12 ships goaccess 1.7: no `.gz` input, no `--jobs`; lines go in on stdin, decompressed here.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import shutil
import subprocess
import tempfile
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path

Logs = Path | Sequence[Path]

BASE_ARGS = ["--log-format=COMBINED", "--no-global-config", "--no-progress"]


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
        partial.replace(out_html)
    finally:
        partial.unlink(missing_ok=True)


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

"""The library the CLI is a thin layer over.

    from analytics import analyse, write_report_files
    stats = analyse(["/var/log/nginx/access.log"])          # what stats.json holds
    write_report_files(["/var/log/nginx/access.log"], "stats", lang="en")

Both take the options of `analytics report` as keyword arguments; `count_days` gives the per-day
counts the summary mail is made from. Errors are exceptions (FormatError, GeoIPError,
KeysDirError, StateError, shop.config.ConfigError), each with a message that names the input.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd

from analytics import memory, pipeline
from analytics.aggregate import build_stats, report_period
from analytics.formats import LogFormat, get_format
from analytics.geoip import CountryLookup
from analytics.keptlines import KeptLines
from analytics.keydir import MEMORY_ONLY, keys_folder
from analytics.read import Source, expand_inputs
from analytics.state import State, StateError
from shop import config

TRIM_BLOCKS = 8  # handing memory back costs page faults: every 64 MB of log is enough
PathLike = str | os.PathLike


@dataclass(frozen=True)
class DayCounts:
    """What one call read: the per-day counts (stored ones included) and how the reading went."""

    frame: pd.DataFrame  # day, table, key, count, visitors
    undated_malformed: int  # malformed lines before any dated line of their file
    lines: int
    malformed: int
    errors: tuple[str, ...]  # inputs that could not be read, one message each
    settings: dict  # the privacy settings and country database stats.json names


@dataclass(frozen=True)
class Report:
    """What `write_report_files` wrote: the statistics and how the reading went."""

    stats: dict
    lines: int
    malformed: int
    errors: tuple[str, ...]


def analyse(
    paths: Iterable[PathLike],
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    state: PathLike | None = None,
    keys_dir: PathLike | None = None,
    ipv4_prefix: int | None = None,
    ipv6_prefix: int | None = None,
    log_format: str | LogFormat | None = None,
    geoip: PathLike | None = None,
    shop: config.ShopConfig | None = None,
    on_error: Callable[[str], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> dict:
    """The statistics of the logs at `paths` (files, globs, .gz, "-" for stdin), as in stats.json.

    `since`/`until`: the report period (default: every day read; with `state`, the last
    shop.toml anonymised_log_retention_days). The other options are those of `count_days`.
    """
    shop = shop or config.load()
    counts = count_days(
        paths, state=state, keys_dir=keys_dir, ipv4_prefix=ipv4_prefix, ipv6_prefix=ipv6_prefix,
        log_format=log_format, geoip=geoip, shop=shop, on_error=on_error, on_warning=on_warning,
    )  # fmt: skip
    start, end = _period(counts, since, until, shop if state is not None else None)
    return _stats(counts, start, end)


def write_report_files(
    paths: Iterable[PathLike],
    out: PathLike,
    *,
    lang: str = "nl",
    goaccess: bool = True,
    since: dt.date | None = None,
    until: dt.date | None = None,
    state: PathLike | None = None,
    keys_dir: PathLike | None = None,
    ipv4_prefix: int | None = None,
    ipv6_prefix: int | None = None,
    log_format: str | LogFormat | None = None,
    geoip: PathLike | None = None,
    shop: config.ShopConfig | None = None,
    on_error: Callable[[str], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    on_malformed: Callable[[str, str], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Report:
    """Read the logs and write the report folder `out`: index.html and report.css, stats.json,
    the CSVs and (with `goaccess`) goaccess.html from anonymised lines only. The options are
    those of `analyse` and `count_days`."""
    shop = shop or config.load()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with _anonymised_file(out, goaccess and state is None) as anonymised:
        counts = count_days(
            paths, state=state, keys_dir=keys_dir, ipv4_prefix=ipv4_prefix,
            ipv6_prefix=ipv6_prefix, log_format=log_format, geoip=geoip, shop=shop,
            anonymised_out=anonymised, on_error=on_error, on_warning=on_warning,
            on_malformed=on_malformed, on_progress=on_progress,
        )  # fmt: skip
        start, end = _period(counts, since, until, shop if state is not None else None)
        stats = _stats(counts, start, end)
        dashboard_lines = None
        if goaccess and state is not None:
            dashboard_lines = KeptLines(Path(state)).files(start, end) if start is not None else []
        elif anonymised is not None:
            anonymised.close()
            dashboard_lines = Path(anonymised.name)
        _write_files(stats, out, lang, dashboard_lines, on_warning)
    return Report(stats, counts.lines, counts.malformed, counts.errors)


def count_days(
    paths: Iterable[PathLike],
    *,
    state: PathLike | None = None,
    keys_dir: PathLike | None = None,
    ipv4_prefix: int | None = None,
    ipv6_prefix: int | None = None,
    log_format: str | LogFormat | None = None,
    geoip: PathLike | None = None,
    shop: config.ShopConfig | None = None,
    anonymised_out=None,
    on_error: Callable[[str], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    on_malformed: Callable[[str, str], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> DayCounts:
    """Read the logs (with `state`: only their new lines) into per-day counts, the stored ones
    included.

    `state`: the folder that remembers what was read and keeps the counts (`keys_dir`: the
    runtime folder for its day keys); `ipv4_prefix`/`ipv6_prefix`: bits of an address kept
    (default: shop.toml [privacy]); `log_format`: a name or an nginx log_format string (default:
    detected per file); `geoip`: a MaxMind .mmdb for countries; `shop`: a loaded shop.toml;
    `anonymised_out`: a binary file for the anonymised lines; the `on_*` callbacks receive
    error and warning messages, malformed lines (anonymised) and bytes read.
    """
    shop = shop or config.load()
    ipv4 = shop.privacy.ipv4_prefix if ipv4_prefix is None else ipv4_prefix
    ipv6 = shop.privacy.ipv6_prefix if ipv6_prefix is None else ipv6_prefix
    fmt = get_format(log_format) if isinstance(log_format, str) else log_format
    countries = CountryLookup(geoip) if geoip is not None else None
    stored = open_state(state, keys_dir, on_warning) if state is not None else None
    kept = _kept_lines(stored) if stored is not None else None
    sources, errors = sources_of(paths)
    for message in errors:
        (on_error or print)(message)
    options = pipeline.Options(
        log_format=fmt,
        ipv4_prefix=ipv4,
        ipv6_prefix=ipv6,
        own_host=urlsplit(shop.site.url).hostname or "",
        form_path=urlsplit(shop.site.form_action).path,
        countries=countries,
        anonymised_out=anonymised_out,
        kept_lines=kept,
        same_format=False,
        state=stored,
        on_error=on_error or print,
        on_malformed=on_malformed,
        on_progress=on_progress,
        after_block=memory.release_freed(every=TRIM_BLOCKS),
    )
    window = shop.privacy.anonymised_log_retention_days
    result, frame = _read_and_finish(pipeline.Pipeline(options), sources, kept, window)
    return DayCounts(
        frame=frame,
        undated_malformed=result.aggregator.undated_malformed,
        lines=result.lines,
        malformed=result.malformed,
        errors=(*errors, *result.errors),
        settings={
            "ipv4_prefix": ipv4,
            "ipv6_prefix": ipv6,
            "geoip": Path(geoip).name if geoip is not None else None,
            "geoip_attribution": countries.attribution if countries else None,
        },
    )


def _read_and_finish(
    reading: pipeline.Pipeline, sources: list[Source], kept: KeptLines | None, window_days: int
) -> tuple[pipeline.Result, pd.DataFrame]:
    """One pass and its per-day counts; the kept lines get this run's only once the state is
    saved, and lose the days before the --state window."""
    try:
        result = reading.read(sources)
        memory.release_freed()()
        frame = pipeline.finish(reading)
        if kept is not None:
            kept.commit()
            window_start, _ = report_period(frame, window_days=window_days)
            if window_start is not None:
                kept.prune(window_start)
    finally:
        if kept is not None:
            kept.discard()
    return result, frame


def open_state(
    folder: PathLike,
    keys_dir: PathLike | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> State:
    """The state folder, its day keys in a runtime folder (or in memory, with a warning)."""
    keys = keys_folder(Path(keys_dir) if keys_dir is not None else None)
    if keys is None and on_warning is not None:
        on_warning(MEMORY_ONLY)
    return State(Path(folder), keys_dir=keys)


def drop_expired_visitors(folder: PathLike, keys_dir: PathLike | None = None) -> None:
    """Turn the per-visitor rows of days whose hash key has expired into counts."""
    pipeline.compact(open_state(folder, keys_dir))


def anonymise_logs(
    paths: Iterable[PathLike],
    sink,
    *,
    ipv4_prefix: int | None = None,
    ipv6_prefix: int | None = None,
    log_format: str | LogFormat | None = None,
    shop: config.ShopConfig | None = None,
    on_error: Callable[[str], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> pipeline.Result:
    """Copy the logs to `sink` (a binary file) with truncated IPs and no query strings."""
    shop = shop or config.load()
    sources, errors = sources_of(paths)
    for message in errors:
        (on_error or print)(message)
    options = pipeline.Options(
        log_format=get_format(log_format) if isinstance(log_format, str) else log_format,
        ipv4_prefix=shop.privacy.ipv4_prefix if ipv4_prefix is None else ipv4_prefix,
        ipv6_prefix=shop.privacy.ipv6_prefix if ipv6_prefix is None else ipv6_prefix,
        count=False,
        anonymised_out=sink,
        same_format=True,
        on_error=on_error or print,
        on_progress=on_progress,
    )
    result = pipeline.Pipeline(options).read(sources)
    result.errors[:0] = errors
    return result


def sources_of(paths: Iterable[PathLike]) -> tuple[list[Source], list[str]]:
    """The inputs `paths` name (files, globs, "-"), and a message for each that names none."""
    return expand_inputs([str(p) for p in paths])


def _kept_lines(state: State) -> KeptLines:
    try:
        return KeptLines(state.folder)
    except OSError as e:
        raise StateError(f"{state.folder}: cannot keep anonymised lines ({e.strerror})") from None


def _period(
    counts: DayCounts,
    since: dt.date | None,
    until: dt.date | None,
    state_shop: config.ShopConfig | None,
) -> tuple[int | None, int | None]:
    """The report's first and last day; `state_shop`: the shop whose window a --state run shows."""
    window = state_shop.privacy.anonymised_log_retention_days if state_shop else None
    return report_period(counts.frame, since, until, window_days=window)


def _stats(counts: DayCounts, start: int | None, end: int | None) -> dict:
    return build_stats(
        counts.frame,
        settings=counts.settings,
        start=start,
        end=end,
        undated_malformed=counts.undated_malformed,
    )


@contextlib.contextmanager
def _anonymised_file(out: Path, wanted: bool) -> Iterator:
    """A hidden temporary file in `out` for this run's anonymised lines (for goaccess.html)."""
    if not wanted:
        yield None
        return
    sink = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives across the pass
        dir=out, prefix=".anonymised-", suffix=".log", delete=False
    )
    try:
        yield sink
    finally:
        sink.close()
        Path(sink.name).unlink(missing_ok=True)


def _write_files(stats: dict, out: Path, lang: str, anonymised_log, on_warning) -> None:
    """stats.json and CSVs, goaccess.html (from anonymised lines only: a file, a list of files,
    or None for no dashboard), then index.html."""
    from analytics.export import write_csvs, write_json
    from analytics.goaccess import GoAccessError, GoAccessNotFound, build_dashboard
    from analytics.report import write_report

    write_json(stats, out)
    write_csvs(stats, out)
    if anonymised_log is not None:
        try:
            build_dashboard(anonymised_log, out / "goaccess.html")
        except (GoAccessNotFound, GoAccessError) as e:
            (on_warning or print)(f"no goaccess.html: {e}")
    write_report(stats, out, lang)

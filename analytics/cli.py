"""`analytics`: cookieless visitor statistics from web server logs (report, summary, anonymize,
purge-logs). Each command parses its options, calls the library (analytics.analysis) and prints;
nothing heavy is imported before a command runs, so --help is quick."""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from shop.config import IPV4_PREFIX_RANGE, IPV6_PREFIX_RANGE, ipv6_prefix_problem
from shop.site import DEFAULT_LANG, LANGUAGES

LARGE_INPUT = 64 * 1024 * 1024


def _shop():
    from shop import config

    try:
        return config.load()
    except config.ConfigError as e:
        raise click.ClickException(str(e)) from None


def _error(message: str) -> None:
    click.echo(f"error: {message}", err=True)


def _warning(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def _show_malformed(source: str, line: str) -> None:
    click.echo(f"malformed line in {source}: {line[:500]}", err=True)


@contextlib.contextmanager
def _progress(logs, label: str):
    """A rich progress bar on stderr when it is a terminal and the input is large."""
    if not sys.stderr.isatty():
        yield None
        return
    from analytics.analysis import sources_of
    from analytics.read import file_size

    total = sum(file_size(s) for s in sources_of(logs)[0])
    if total < LARGE_INPUT:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    columns = (label, BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@contextlib.contextmanager
def _library_errors() -> Iterator[None]:
    """The library's errors as click's: a clear message naming the option, exit status 1 or 2."""
    from analytics.formats import FormatError
    from analytics.geoip import GeoIPError
    from analytics.keydir import KeysDirError
    from analytics.state import StateError
    from shop.config import ConfigError

    try:
        yield
    except FormatError as e:
        raise click.BadParameter(str(e), param_hint="--log-format") from None
    except GeoIPError as e:
        raise click.BadParameter(str(e), param_hint="--geoip") from None
    except KeysDirError as e:
        raise click.BadParameter(str(e), param_hint="--keys-dir") from None
    except (StateError, ConfigError) as e:
        raise click.ClickException(str(e)) from None


def _ipv6_prefix(ctx, param, value: int | None) -> int | None:
    if value is not None and ipv6_prefix_problem(value):
        raise click.BadParameter(ipv6_prefix_problem(value))
    return value


prefix_options = [
    click.option(
        "--ipv4-prefix",
        type=click.IntRange(*IPV4_PREFIX_RANGE),
        help=f"Keep this many bits of an IPv4 address, {IPV4_PREFIX_RANGE[0]} to "
        f"{IPV4_PREFIX_RANGE[1]} (default: shop.toml [privacy]).",
    ),
    click.option(
        "--ipv6-prefix",
        type=int,
        callback=_ipv6_prefix,
        help=f"Keep this many bits of an IPv6 address, {IPV6_PREFIX_RANGE[0]} to "
        f"{IPV6_PREFIX_RANGE[1]} (default: shop.toml [privacy]).",
    ),
    click.option(
        "--log-format",
        metavar="NAME|STRING",
        help="combined, common, vhost_combined, vhost_common or an nginx log_format string "
        "(default: detected from the first lines of each file).",
    ),
]


keys_dir_option = click.option(
    "--keys-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Runtime folder on tmpfs for the visitor-hash keys of --state, never inside it "
    "(default: $RUNTIME_DIRECTORY, else $XDG_RUNTIME_DIR/itfixe-analytics, else "
    "/dev/shm/itfixe-analytics-UID).",
)


def with_prefix_options(func):
    for option in reversed(prefix_options):
        func = option(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Visitor statistics from web server logs, without cookies and without keeping full IPs.

    \b
    Example:
      analytics report /var/log/nginx/access.log* --out stats
    """
    from analytics.memory import flat_memory, leave_heap_at_exit

    flat_memory()
    leave_heap_at_exit()


@cli.command()
@click.argument("logs", nargs=-1)
@click.option(
    "--out",
    "-o",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for index.html and report.css, stats.json, the CSVs, goaccess.html and its "
    "goaccess.js, .css and -icons.woff (nothing inline: they render under a strict CSP).",
)
@click.option(
    "--geoip",
    type=click.Path(dir_okay=False, path_type=Path),
    help="MaxMind DB (.mmdb) for countries, e.g. DB-IP's free IP to Country Lite.",
)
@click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    default=DEFAULT_LANG,
    show_default=True,
    help="Language of index.html.",
)
@click.option(
    "--state",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder that remembers what was read and keeps daily counts (incremental runs).",
)
@keys_dir_option
@click.option(
    "--since", type=click.DateTime(["%Y-%m-%d"]), help="First day to report (YYYY-MM-DD)."
)
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Last day to report (YYYY-MM-DD).")
@with_prefix_options
@click.option("--no-goaccess", is_flag=True, help="Do not build goaccess.html.")
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Show each malformed line on stderr (anonymised: truncated IPs, no query strings).",
)
def report(logs, out, geoip, lang, state, keys_dir, since, until, ipv4_prefix, ipv6_prefix,
           log_format, no_goaccess, verbose) -> None:  # fmt: skip
    """Read LOGS (files, globs, .gz, - for stdin) and write the report to --out.

    Without --since the report covers every day in the logs; with --state, the last
    anonymised_log_retention_days (shop.toml [privacy], 28 by default). With --state and no
    LOGS, the report is rebuilt from the stored counts alone. --state also keeps the anonymised
    lines of those days, so goaccess.html covers the same period.

    Repair requests: a visit by a person whose POST to shop.toml [site] form_action was
    answered 303 (not 4xx/5xx, not a bot). When the handler runs on another host, give its
    access log too (same run, or the same --state): a request joins its visitor's last visit
    that began before it, matched by that day's visitor key; one without a visit in the logs
    is not counted.

    \b
    Examples:
      analytics report /var/log/nginx/access.log* --out stats
      analytics report site-access.log* forms-access.log* --out stats
      analytics report access.log.2.gz access.log.1 --out stats --lang en --geoip dbip.mmdb
      analytics report /var/log/nginx/access.log* --state .stats-state --out stats
    """
    from analytics.analysis import write_report_files

    if not logs and state is None:
        raise click.UsageError(
            "give at least one LOG (or --state DIR to rebuild from stored counts)"
        )
    if keys_dir is not None and state is None:
        raise click.UsageError("--keys-dir holds the day keys of --state: give --state too")
    if since and until and since > until:
        raise click.BadParameter("--since is after --until", param_hint="--since")
    with _library_errors(), _progress(logs, "reading") as advance:
        report = write_report_files(
            logs, out, lang=lang, goaccess=not no_goaccess, state=state, keys_dir=keys_dir,
            since=since.date() if since else None, until=until.date() if until else None,
            ipv4_prefix=ipv4_prefix, ipv6_prefix=ipv6_prefix, log_format=log_format,
            geoip=geoip, shop=_shop(), on_error=_error, on_warning=_warning,
            on_malformed=_show_malformed if verbose else None, on_progress=advance,
        )  # fmt: skip
    if verbose or report.malformed:
        click.echo(
            f"{report.lines:,} lines read, {report.malformed:,} malformed; report in {out}/",
            err=True,
        )
    if report.errors:
        sys.exit(1)


@cli.command()
@click.argument("logs", nargs=-1)
@click.option(
    "--state",
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder of `analytics report --state`: its daily counts (and new lines of LOGS).",
)
@keys_dir_option
@click.option(
    "--period",
    type=click.Choice(["week", "month"]),
    default="week",
    show_default=True,
    help="The last full week (Monday to Sunday) or calendar month, against the one before.",
)
@click.option(
    "--lang", type=click.Choice(LANGUAGES), default=DEFAULT_LANG, show_default=True,
    help="Language of the mail.",
)  # fmt: skip
@click.option(
    "--mail-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the mail as an .eml file into this folder instead of sending it "
    "(default: REPAIRS_MAIL_DIR, else send with REPAIRS_SMTP_*).",
)
@click.option(
    "--today",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Count the periods back from this day (default: today), e.g. to redo an older week.",
)
@with_prefix_options
def summary(logs, state, keys_dir, period, lang, mail_dir, today, ipv4_prefix, ipv6_prefix,
            log_format) -> None:  # fmt: skip
    """Mail the owner a summary of the last full week (or month) against the one before.

    Visitors, pageviews and repair requests sent through the site with their change, the top
    pages and sources, what stands out (a new referrer in the top 5, a jump in 404s) and a link
    to the full report (shop.toml [site] url + /stats/). Made from the same daily counts as the
    report, never from a full address or a single visitor. To: shop.toml [business] email, sent
    with the handler's mail settings (REPAIRS_SMTP_HOST, _PORT, _USER, _PASSWORD, _TLS), or
    written into --mail-dir. A systemd timer sends it on Monday mornings (docs/deploy.md).

    \b
    Examples:
      analytics summary --state /var/lib/itfixe-stats/state
      analytics summary access.log* --period month --lang en --mail-dir mail
    """
    from analytics.analysis import count_days
    from analytics.report import SHOP_TIMEZONE
    from analytics.summary import DeliveryError, compose, deliver, message, period_before
    from repairs import mail
    from repairs.settings import SettingsError
    from repairs.settings import load as load_mail_settings

    shop = _shop()
    if not logs and state is None:
        raise click.UsageError("give at least one LOG, or --state DIR with the stored counts")
    if keys_dir is not None and state is None:
        raise click.UsageError("--keys-dir holds the day keys of --state: give --state too")
    try:
        settings = load_mail_settings(mail_dir=mail_dir, need_db=False)
    except SettingsError as e:
        raise click.ClickException(str(e)) from None
    with _library_errors():
        counts = count_days(
            logs, state=state, keys_dir=keys_dir, ipv4_prefix=ipv4_prefix,
            ipv6_prefix=ipv6_prefix, log_format=log_format, shop=shop, on_error=_error,
            on_warning=_warning,
        )  # fmt: skip
    if counts.errors:  # a summary with a log missing would mislead
        raise click.ClickException("summary not sent: a LOG could not be read")
    day = today.date() if today else dt.datetime.now(SHOP_TIMEZONE).date()
    composed = compose(counts.frame, day, period, lang, shop.site.url, shop.business.trade_name)
    msg = message(composed, mail.sender(settings), shop.business.email)
    start, _ = period_before(day, period)
    try:
        click.echo(f"summary {deliver(msg, settings, f'summary-{period}-{start}.eml')}")
    except DeliveryError as e:
        raise click.ClickException(f"summary not delivered ({e})") from None


@cli.command()
@click.argument("logs", nargs=-1, required=True)
@click.option(
    "--output",
    "-o",
    "output",
    required=True,
    type=click.Path(dir_okay=False),
    help="File to write (- for stdout); .gz compresses.",
)
@with_prefix_options
def anonymize(logs, output, ipv4_prefix, ipv6_prefix, log_format) -> None:
    """Copy LOGS with truncated IPs and without query strings, same format.

    Malformed lines are left out (they may hold an address in a place no format names).

    \b
    Example:
      analytics anonymize /var/log/nginx/access.log.1 -o access-anonymised.log.gz
    """
    from analytics.analysis import anonymise_logs

    with _library_errors(), _open_output(output) as sink, _progress(logs, "anonymising") as advance:
        result = anonymise_logs(
            logs, sink, ipv4_prefix=ipv4_prefix, ipv6_prefix=ipv6_prefix, log_format=log_format,
            shop=_shop(), on_error=_error, on_progress=advance,
        )  # fmt: skip
    if result.malformed:
        click.echo(f"{result.malformed:,} malformed lines left out", err=True)
    if result.errors:
        sys.exit(1)


@contextlib.contextmanager
def _open_output(output: str):
    if output == "-":
        yield sys.stdout.buffer
        sys.stdout.flush()
        return
    from shop.files import replaced_whole

    target = Path(output)
    try:
        with replaced_whole(target) as sink:
            if target.suffix == ".gz":
                import gzip

                with gzip.GzipFile(target.name, "wb", fileobj=sink) as compressed:
                    yield compressed
            else:
                yield sink
    except OSError as e:
        raise click.ClickException(f"{target}: cannot write ({e.strerror or e})") from None


@cli.command("purge-logs")
@click.argument("logs", nargs=-1)
@click.option("--days", type=click.IntRange(1), help="Keep this many days (default: shop.toml "
              "[privacy] raw_log_retention_days).")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@click.option(
    "--state",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Also drop the per-visitor rows (visitor keys) of days whose hash key has expired from "
    "this report --state folder, and the expired keys.",
)
@keys_dir_option
def purge_logs(logs, days, dry_run, state, keys_dir) -> None:
    """Delete raw logs (with full IPs) last written more than the retention period ago.

    LOGS are globs; the default is shop.toml [analytics] logs.

    \b
    Example:
      analytics purge-logs                       # uses shop.toml
      analytics purge-logs '/var/log/nginx/access.log.*' --days 7 --dry-run
      analytics purge-logs --state /var/lib/itfixe-stats/state
    """
    from analytics.retention import purge_logs as purge

    if keys_dir is not None and state is None:
        raise click.UsageError("--keys-dir holds the day keys of --state: give --state too")
    shop = _shop()
    days = days or shop.privacy.raw_log_retention_days
    patterns = list(logs) or list(shop.analytics.logs)
    result = purge(patterns, days, dry_run=dry_run, now=dt.datetime.now(dt.UTC))
    verb = "would delete" if dry_run else "deleted"
    for path in result.deleted:
        click.echo(f"{verb} {path}")
    click.echo(f"{len(result.deleted)} {verb}, {len(result.kept)} younger than {days} days kept")
    for message in result.errors:
        _error(message)
    if state is not None and not dry_run:
        _drop_expired_visitors(state, keys_dir)
    if result.errors:
        sys.exit(1)


def _drop_expired_visitors(state: Path, keys_dir: Path | None) -> None:
    from analytics.analysis import drop_expired_visitors

    with _library_errors():
        drop_expired_visitors(state, keys_dir)
    click.echo(f"{state}: visitor keys of days older than 48 hours dropped")

"""Render deploy/'s nginx and logrotate templates for one host from shop.toml and a few options,
and check that the site and the handler agree on origins.

The templates are real nginx/logrotate files with `${NAME}` placeholders (upper case only, so
nginx's own `$variables` stay as they are). The end-to-end test renders the same files.

    .venv/bin/python deploy/render.py nginx --out /etc/nginx/itfixe
    .venv/bin/python deploy/render.py logrotate > /etc/logrotate.d/itfixe
    .venv/bin/python deploy/render.py check --env /etc/itfixe/repairs.env --site /var/www/itfixe
    .venv/bin/python deploy/render.py stats-password --file /etc/nginx/itfixe-stats.passwd
"""

from __future__ import annotations

import getpass
import re
import secrets
import shutil
import string
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

import click

DEPLOY = Path(__file__).resolve().parent
NGINX_TEMPLATES = DEPLOY / "nginx"
SECURITY_HEADERS = NGINX_TEMPLATES / "security-headers.conf"
LOGROTATE_TEMPLATE = DEPLOY / "logrotate" / "itfixe.template"

SITE_ROOT = "/var/www/itfixe"
LOG_DIR = "/var/log/nginx/itfixe"
HANDLER_ADDR = "127.0.0.1:8001"
ACME_ROOT = "/var/www/html"
# The nightly report (analytics-stats.service --out) and the owner's password for it.
STATS_ROOT = "/var/www/itfixe-stats"
STATS_PASSWORDS = "/etc/nginx/itfixe-stats.passwd"
# SHA-512-crypt ($6$), which nginx's auth_basic checks with the system's crypt(): nginx hashes the
# password on every request to /stats/, so the rounds are a cost per request, not per login.
PASSWORD_ROUNDS = 50_000
PASSWORD_MIN_LENGTH = 12
_SALT_CHARS = string.ascii_letters + string.digits + "./"
# The plain-HTTP variant serves /stats/ to this machine only (a TLS proxy on it, or a trial):
# the password never crosses a network unencrypted.
LOOPBACK_ONLY = "    allow 127.0.0.1;\n    allow ::1;\n    deny all;"
LOG_FORMATS = {"combined": "combined", "anonymised": "itfixe_anonymised"}
ACCESS_LOG_FILES = {"combined": "access.log", "anonymised": "access-anonymised.log"}
ADD_HEADER = re.compile(
    r"""^\s*add_header\s+(?P<name>[\w-]+)\s+(?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s;]+)""",
    re.M,
)


class RenderError(ValueError):
    """A setting that cannot be turned into a working config; the message says which."""


class ConfigTemplate(string.Template):
    """`${UPPER_CASE}` placeholders only: `$remote_addr`, `$1`, `${host}` are nginx's."""

    pattern = r"""
    \$(?:
      (?P<escaped>(?!))
    | (?P<named>(?!))
    | \{(?P<braced>[A-Z][A-Z0-9_]*)\}
    | (?P<invalid>(?!))
    )"""


def render_template(path: Path, values: dict[str, str]) -> str:
    """Fill a template's placeholders; a missing value is a RenderError naming it."""
    try:
        return ConfigTemplate(path.read_text(encoding="utf-8")).substitute(values)
    except KeyError as e:
        raise RenderError(f"{path.name}: no value for ${{{e.args[0]}}}") from None


def ip_mask_rules(ipv4_prefix: int, ipv6_prefix: int) -> str:
    """nginx `map` lines that cut $remote_addr to the given prefixes (whole octets/hextets)."""
    from shop.config import IPV4_PREFIX_RANGE, IPV6_PREFIX_RANGE

    setting = f"shop.toml [privacy] ipv4_prefix = {ipv4_prefix}, ipv6_prefix = {ipv6_prefix}"
    (v4_low, v4_high), (v6_low, v6_high) = IPV4_PREFIX_RANGE, IPV6_PREFIX_RANGE
    if not (v4_low <= ipv4_prefix <= v4_high and v6_low <= ipv6_prefix <= v6_high):
        raise RenderError(
            f"{setting}: allowed are IPv4 /{v4_low} to /{v4_high} and IPv6 /{v6_low} to "
            f"/{v6_high}, so that no full address is ever written"
        )
    if ipv4_prefix % 8 or ipv6_prefix % 16:
        raise RenderError(
            f"{setting}: nginx can cut an address only at whole octets (IPv4 /8, /16, /24) and "
            "whole hextets (IPv6 /16, /32, /48); choose such prefixes or use the combined log"
        )
    octets, hextets = ipv4_prefix // 8, ipv6_prefix // 16
    v4_kept = r"\.".join([r"\d+"] * octets)
    v4_cut = r"\.\d+" * (4 - octets) + "$"
    v4_zeros = ".0" * (4 - octets)
    rules = [
        ("# IPv4", ""),
        (f"~^({v4_kept}){v4_cut}", f"$1{v4_zeros}"),
        ("# IPv4-mapped IPv6 (::ffff:192.0.2.1) counts as IPv4", ""),
        (f"~^::ffff:({v4_kept}){v4_cut}", f"$1{v4_zeros}"),
    ]
    if hextets == 8:
        rules += [("# IPv6, kept whole (/128)", ""), ("~:", "$remote_addr")]
    else:
        kept = ":".join(["[0-9a-f]+"] * hextets)
        rules += [
            (f"# IPv6 with its first {hextets} groups written out", ""),
            (f"~^({kept}):", "$1::"),
            ('# IPv6 with "::" among its first groups: those are zeros (or cut further)', ""),
            ("~^([0-9a-f:]*?)::", "$1::"),
        ]
    return "\n".join(
        f"    {key}" if not value else f"    {key:<25} {value};" for key, value in rules
    )


def access_log_lines(log_dir: str, formats: Iterable[str]) -> str:
    """One `access_log` line per chosen format (nginx writes several logs at once)."""
    lines = []
    for name in formats:
        if name not in LOG_FORMATS:
            raise RenderError(f"unknown access log {name!r}: choose from {sorted(LOG_FORMATS)}")
        lines.append(f"access_log {log_dir}/{ACCESS_LOG_FILES[name]} {LOG_FORMATS[name]};")
    if not lines:
        raise RenderError("choose at least one access log")
    return "\n".join(lines)


def error_log_line(log_dir: str, formats: Iterable[str]) -> str:
    """Errors at nginx's usual level, except when only the anonymised log is kept."""
    level = "" if "combined" in formats else " emerg"
    return f"error_log {log_dir}/error.log{level};"


def security_headers(snippet: Path | None = None) -> dict[str, str]:
    """Header name -> value of every `add_header` line in the security-headers snippet."""
    snippet = snippet or SECURITY_HEADERS
    found = {}
    for match in ADD_HEADER.finditer(snippet.read_text(encoding="utf-8")):
        value = match["value"]
        if value[:1] in "\"'" and value[-1:] == value[:1]:
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        found[match["name"]] = value
    if not found:
        raise RenderError(f"{snippet}: no add_header lines")
    return found


def with_form_origin(snippet: str, form_action: str) -> str:
    """The snippet with the handler's origin in CSP form-action when it runs on another host."""
    origin = origin_of(form_action)
    if not origin:
        return snippet
    if "form-action 'self'" not in snippet:
        raise RenderError("security-headers.conf: no \"form-action 'self'\" to extend")
    return snippet.replace("form-action 'self'", f"form-action 'self' {origin}")


def hide_upstream_headers(snippet: Path) -> str:
    """`proxy_hide_header` for every header the security-headers snippet adds."""
    names = security_headers(snippet)
    return "\n".join(f"    proxy_hide_header {name};" for name in names)


def stats_header_snippets(site_snippet: Path) -> dict[str, str]:
    """stats-headers.conf and stats-dashboard-headers.conf from the site's rendered snippet."""
    from analytics.headers import stats_headers

    site = security_headers(site_snippet)
    snippets = {}
    for name, dashboard in (("stats-headers.conf", False), ("stats-dashboard-headers.conf", True)):
        headers = stats_headers(site, dashboard=dashboard)
        lines = [f'add_header {header} "{value}" always;' for header, value in headers.items()]
        what = "GoAccess's dashboard" if dashboard else "the owner's statistics under /stats/"
        snippets[name] = (
            f"# Headers for {what}: rendered by deploy/render.py from\n"
            "# security-headers.conf and analytics/headers.py; edit those, not this file.\n"
            + "\n".join(lines)
            + "\n"
        )
    return snippets


def default_server_name(shop) -> str:
    """The host of shop.toml [site] url, e.g. www.itfixe.example."""
    host = urlsplit(shop.site.url).hostname
    if not host:
        raise RenderError(f"shop.toml [site] url = {shop.site.url!r} has no host name")
    return host


def render_nginx(
    out: Path,
    shop,
    *,
    server_names: Iterable[str] = (),
    site_root: str = SITE_ROOT,
    handler: str = HANDLER_ADDR,
    log_dir: str = LOG_DIR,
    access_logs: Iterable[str] = ("combined",),
    listen: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    acme_root: str = ACME_ROOT,
    stats_root: str = STATS_ROOT,
    stats_passwords: str = STATS_PASSWORDS,
    headers_snippet: Path | None = None,
) -> Path:
    """Write the nginx files into `out`; return the file to enable (itfixe.conf).

    With `listen` (e.g. "127.0.0.1:8080") the site is served over plain HTTP there
    (itfixe-local.conf); without it, the HTTPS config for the real host.
    """
    snippet = headers_snippet or SECURITY_HEADERS
    if not snippet.is_file():
        raise RenderError(f"{snippet}: missing (the site's security headers snippet)")
    out = out.resolve()
    access_logs = tuple(access_logs)
    names = list(server_names) or [default_server_name(shop)]
    values = {
        "NGINX_DIR": str(out),
        "SITE_ROOT": site_root.rstrip("/") or "/",
        "HANDLER_ADDR": handler,
        "LOG_DIR": log_dir.rstrip("/"),
        "ACCESS_LOG": access_log_lines(log_dir.rstrip("/"), access_logs),
        "HIDE_UPSTREAM_HEADERS": hide_upstream_headers(snippet),
        "ERROR_LOG": error_log_line(log_dir.rstrip("/"), access_logs),
        "IP_MASK_RULES": ip_mask_rules(shop.privacy.ipv4_prefix, shop.privacy.ipv6_prefix),
        "SERVER_NAME": names[0],
        "SERVER_NAMES": " ".join(names),
        "LISTEN": listen or "",
        "ACME_ROOT": acme_root,
        "TLS_CERT": tls_cert or f"/etc/letsencrypt/live/{names[0]}/fullchain.pem",
        "TLS_KEY": tls_key or f"/etc/letsencrypt/live/{names[0]}/privkey.pem",
        "STATS_ROOT": stats_root.rstrip("/") or "/",
        "STATS_PASSWORDS": stats_passwords,
        "STATS_ACCESS": LOOPBACK_ONLY if listen else "    # HTTPS only: port 80 redirects here.",
    }
    out.mkdir(parents=True, exist_ok=True)
    main = "itfixe-local.conf" if listen else "itfixe.conf"
    for name in ("itfixe-http.conf", "itfixe-site.conf", main):
        text = render_template(NGINX_TEMPLATES / f"{name}.template", values)
        (out / name).write_text(text, encoding="utf-8")
    (out / "security-headers.conf").write_text(
        with_form_origin(snippet.read_text(encoding="utf-8"), shop.site.form_action),
        encoding="utf-8",
    )
    for name, text in stats_header_snippets(out / "security-headers.conf").items():
        (out / name).write_text(text, encoding="utf-8")
    return out / main


def hash_password(password: str, rounds: int = PASSWORD_ROUNDS) -> str:
    """SHA-512-crypt of `password` with a random salt, by `openssl passwd -6` (from stdin, so
    the password is in no process's command line)."""
    salt = "".join(secrets.choice(_SALT_CHARS) for _ in range(16))
    run = subprocess.run(
        ["openssl", "passwd", "-6", "-stdin", "-salt", f"rounds={rounds}${salt}"],
        input=password + "\n",
        capture_output=True,
        text=True,
    )
    hashed = run.stdout.strip()
    if run.returncode != 0 or not hashed.startswith(f"$6$rounds={rounds}${salt}$"):
        raise RenderError(f"openssl passwd failed: {run.stderr.strip() or hashed}")
    return hashed


def write_password_file(path: Path, user: str, hashed: str, group: str | None) -> None:
    """Set `user`'s line in the auth_basic file (others kept), readable by `group` only."""
    if not re.fullmatch(r"[\w.@-]+", user):
        raise RenderError(f"user name {user!r}: use letters, digits and . _ @ - only")
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    lines = [line for line in lines if line.split(":", 1)[0] != user] + [f"{user}:{hashed}"]
    partial = path.with_name(f".{path.name}.part")
    partial.touch(mode=0o600)
    partial.chmod(0o640 if group else 0o600)
    if group:
        try:
            shutil.chown(partial, group=group)
        except (LookupError, PermissionError) as e:
            partial.unlink()
            raise RenderError(f"cannot give the file to group {group}: {e}") from None
    partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
    partial.replace(path)


def read_new_password(stream=None) -> str:
    """The password, typed twice at a terminal (not echoed) or one line from a pipe."""
    stream = stream or sys.stdin
    if stream.isatty():
        password = getpass.getpass("New password for the statistics: ")
        if getpass.getpass("The same password again: ") != password:
            raise RenderError("the two passwords differ; nothing was changed")
    else:
        password = stream.readline().rstrip("\r\n")
    if len(password) < PASSWORD_MIN_LENGTH:
        raise RenderError(
            f"the password must have at least {PASSWORD_MIN_LENGTH} characters; nothing was changed"
        )
    return password


def render_logrotate(shop, log_dir: str = LOG_DIR) -> str:
    """The logrotate config that deletes raw logs after [privacy] raw_log_retention_days."""
    days = shop.privacy.raw_log_retention_days
    # Rotated daily, a file holds one day; keeping days-1 old files means no line is older
    # than `days` days when logrotate has run.
    values = {"LOG_DIR": log_dir.rstrip("/"), "RETENTION_DAYS": str(days), "KEEP": str(days - 1)}
    return render_template(LOGROTATE_TEMPLATE, values)


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of a systemd EnvironmentFile (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value.strip().strip('"')
    return values


def origin_problems(shop, env: dict[str, str], site: Path | None = None) -> list[str]:
    """Where the site, its CSP and the handler's allowed origins disagree (empty: they agree)."""
    site_origin = origin_of(shop.site.url)
    site_url = env.get("REPAIRS_SITE_URL", "").strip().rstrip("/")
    allowed = [o.strip().rstrip("/") for o in env.get("REPAIRS_ALLOWED_ORIGINS", "").split(",")]
    if not any(allowed):  # the handler's default: the site's own origins
        allowed = [origin_of(site_url), site_origin]
    problems = []
    if site_origin not in allowed:
        problems.append(
            f"REPAIRS_ALLOWED_ORIGINS={','.join(filter(None, allowed))} lacks the site's origin "
            f"{site_origin} ([site] url): the handler will refuse the form with 403"
        )
    if site_url and site_url != shop.site.url.rstrip("/"):
        problems.append(
            f"REPAIRS_SITE_URL={site_url} differs from [site] url "
            f"{shop.site.url}: the thank-you page links to the wrong site"
        )
    if site is not None:
        problems += built_site_problems(shop, site)
    return problems


def built_site_problems(shop, site: Path) -> list[str]:
    """The built form posts to [site] form_action and the built CSP allows it."""
    from shop.site import page_path

    problems = []
    action = shop.site.form_action
    form = site / page_path("repair").strip("/") / "index.html"
    if not form.is_file():
        return [f"{form}: missing (build the site first)"]
    if f'action="{action}"' not in form.read_text(encoding="utf-8"):
        problems.append(f"{form}: the form does not post to [site] form_action {action}")
    headers = site / "_headers"
    needed = origin_of(action) or "'self'"
    csp = re.search(r"form-action ([^;\n]*)", headers.read_text(encoding="utf-8"))
    if not csp or needed not in csp[1].split():
        problems.append(f"{headers}: CSP form-action does not allow {needed}")
    return problems


def origin_of(url: str) -> str:
    """scheme://host[:port] of an absolute URL, "" for a path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


@click.group()
@click.option(
    "--shop-toml",
    type=click.Path(dir_okay=False, path_type=Path),
    help="shop.toml to read (default: $SHOP_CONFIG, ./shop.toml, the repo's).",
)
@click.pass_context
def cli(ctx: click.Context, shop_toml: Path | None) -> None:
    """Render deploy/ configs for this host.

    Example: python deploy/render.py nginx --out /etc/nginx/itfixe
    """
    from shop import config

    try:
        ctx.obj = config.load(shop_toml)
    except config.ConfigError as e:
        raise click.ClickException(str(e)) from None


@cli.command()
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--server-name", "server_names", multiple=True, help="Default: host of [site] url.")
@click.option("--site-root", default=SITE_ROOT, show_default=True, help="The built site.")
@click.option("--handler", default=HANDLER_ADDR, show_default=True, help="repairs serve address.")
@click.option("--log-dir", default=LOG_DIR, show_default=True)
@click.option(
    "--access-log",
    "access_logs",
    type=click.Choice(sorted(LOG_FORMATS)),
    multiple=True,
    default=["combined"],
    show_default=True,
    help="Repeat to write both.",
)
@click.option("--listen", help="Plain HTTP on this address (e.g. 127.0.0.1:8080) instead of TLS.")
@click.option("--tls-cert", help="Default: Let's Encrypt's fullchain.pem for the first name.")
@click.option("--tls-key", help="Default: Let's Encrypt's privkey.pem for the first name.")
@click.option("--acme-root", default=ACME_ROOT, show_default=True, help="certbot --webroot path.")
@click.option(
    "--stats-root", default=STATS_ROOT, show_default=True, help="The nightly report, at /stats/."
)
@click.option(
    "--stats-passwords",
    default=STATS_PASSWORDS,
    show_default=True,
    help="The password file for /stats/ (made by the stats-password command).",
)
@click.pass_obj
def nginx(shop, out: Path, **options) -> None:
    """Write the nginx site files into OUT and print the one to enable.

    Example: python deploy/render.py nginx --out /etc/nginx/itfixe --access-log anonymised
    """
    try:
        click.echo(render_nginx(out, shop, **options))
    except RenderError as e:
        raise click.ClickException(str(e)) from None


@cli.command()
@click.option("--log-dir", default=LOG_DIR, show_default=True)
@click.pass_obj
def logrotate(shop, log_dir: str) -> None:
    """Print the logrotate config for the site's logs (retention from shop.toml).

    Example: python deploy/render.py logrotate > /etc/logrotate.d/itfixe
    """
    click.echo(render_logrotate(shop, log_dir), nl=False)


@cli.command("stats-password")
@click.option(
    "--file",
    "path",
    default=STATS_PASSWORDS,
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The auth_basic file nginx reads for /stats/.",
)
@click.option("--user", default="owner", show_default=True, help="The name to log in with.")
@click.option(
    "--group",
    default="www-data",
    show_default=True,
    help="The group nginx's workers run as, which may read the file ('' for none).",
)
def stats_password(path: Path, user: str, group: str) -> None:
    """Set the password for the statistics at /stats/ (asked twice, never on the command line).

    Stores a SHA-512-crypt hash ($6$, made by `openssl passwd`) in FILE, mode 0640, group
    www-data. From a script, pipe the password in on one line.

    \b
    Example:
      python deploy/render.py stats-password --user owner
    """
    try:
        write_password_file(path, user, hash_password(read_new_password()), group or None)
    except RenderError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"The password for {user} is set in {path}; nginx reads it at the next request.")


@cli.command()
@click.option(
    "--env",
    "env_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The handler's environment file, e.g. /etc/itfixe/repairs.env.",
)
@click.option(
    "--site",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Also check the built site (its form and _headers).",
)
@click.pass_obj
def check(shop, env_file: Path, site: Path | None) -> None:
    """Check that the site, its CSP and the handler's allowed origins agree.

    Example: python deploy/render.py check --env /etc/itfixe/repairs.env --site output
    """
    problems = origin_problems(shop, read_env_file(env_file), site)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(1)
    click.echo("The site, its CSP and the handler's allowed origins agree.")


if __name__ == "__main__":
    sys.path.insert(0, str(DEPLOY.parent))  # `shop` and `analytics` from this checkout
    cli()

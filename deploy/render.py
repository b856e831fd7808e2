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
    """nginx `map` lines that cut $remote_addr to the given prefixes.

    IPv4 is cut at whole octets; IPv6 at any bit, since a /40 (the finest prefix allowed) ends
    inside a group: nginx writes groups without leading zeros, so the rules know, per number of
    digits, which digits lie before the cut.
    """
    from shop.config import IPV4_PREFIX_RANGE, IPV6_PREFIX_RANGE

    setting = f"shop.toml [privacy] ipv4_prefix = {ipv4_prefix}, ipv6_prefix = {ipv6_prefix}"
    (v4_low, v4_high), (v6_low, v6_high) = IPV4_PREFIX_RANGE, IPV6_PREFIX_RANGE
    if not (v4_low <= ipv4_prefix <= v4_high and v6_low <= ipv6_prefix <= v6_high):
        raise RenderError(
            f"{setting}: allowed are IPv4 /{v4_low} to /{v4_high} and IPv6 /{v6_low} to "
            f"/{v6_high}, so that no full address is ever written"
        )
    if ipv4_prefix % 8:
        raise RenderError(
            f"{setting}: nginx can cut an IPv4 address only at whole octets (/8, /16, /24); "
            "choose such a prefix or use the combined log"
        )
    octets = ipv4_prefix // 8
    v4_kept = r"\.".join([r"\d+"] * octets)
    v4_cut = r"\.\d+" * (4 - octets) + "$"
    v4_zeros = ".0" * (4 - octets)
    rules = [
        ("# IPv4", ""),
        (f"~^({v4_kept}){v4_cut}", f"$1{v4_zeros}"),
        ("# IPv4-mapped IPv6 (::ffff:192.0.2.1) counts as IPv4", ""),
        (f"~^::ffff:({v4_kept}){v4_cut}", f"$1{v4_zeros}"),
        *_ipv6_mask_rules(ipv6_prefix),
    ]
    return "\n".join(
        f"    {key}" if not value else f"    {_quoted(key):<25} {value};" for key, value in rules
    )


def _quoted(regex: str) -> str:
    """A regex as an nginx token: quoted when it holds braces, which nginx reads as blocks."""
    return f'"{regex}"' if "{" in regex else regex


def _ipv6_mask_rules(prefix: int) -> list[tuple[str, str]]:
    whole, bits = divmod(prefix, 16)
    kept = "(?<kept>" + ":".join(["[0-9a-f]+"] * whole) + ")"
    rules = [(f"# IPv6 with its first {whole} groups written out", "")]
    if not bits:
        rules.append((f"~^{kept}:", "$kept::"))
    else:
        rules.append(
            (f"# ... and the top {bits} bits of the next group, by its number of digits", "")
        )
        for digits in (4, 3, 2, 1):
            rules += _partial_group_rules(kept, bits, digits)
    rules += [
        ('# IPv6 with "::" among its first groups: those are zeros (or cut further)', ""),
        ("~^([0-9a-f:]*?)::", "$1::"),
    ]
    return rules


def _partial_group_rules(kept: str, bits: int, digits: int) -> list[tuple[str, str]]:
    """Rules for a group of `digits` hex digits of which the top `bits` of 16 are kept."""
    # The group's digits sit at the low end of its 4 places; places before `bits` survive.
    first_place = 4 - digits
    whole_places, part_bits = divmod(bits, 4)
    kept_digits = max(0, whole_places - first_place)
    rest = digits - kept_digits
    head = f"(?<head>[0-9a-f]{{{kept_digits}}})" if kept_digits else ""
    value_head = "${head}" if kept_digits else ""
    if part_bits and whole_places >= first_place:
        # One digit is cut inside: each class of digits sharing their top bits maps to one digit.
        step = 16 >> part_bits
        rules = []
        for low in range(0, 16, step):
            chars = "".join(f"{d:x}" for d in range(low, low + step))
            cut = f"[{chars}]" + (f"[0-9a-f]{{{rest - 1}}}" if rest > 1 else "")
            group = (value_head + f"{low:x}" + "0" * (rest - 1)).lstrip("0")
            rules.append(_group_rule(kept, head, cut, group))
        return rules
    cut = f"[0-9a-f]{{{rest}}}" if rest else ""
    group = (value_head + "0" * rest).lstrip("0") if kept_digits else ""
    return [_group_rule(kept, head, cut, group)]


def _group_rule(kept: str, head: str, cut: str, group: str) -> tuple[str, str]:
    value = f"$kept:{group}::" if group else "$kept::"
    return (f"~^{kept}:{head}{cut}(:|$)", value)


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


SNIPPET_INTRO = """\
# Security headers for the ITfixe site: rendered by deploy/render.py from shop/headers.py (the
# same set as `_headers` for static hosts and the form handler's); edit that, not this file.
# Include it in the server block (and again in any location that has add_header of its own:
# nginx drops inherited add_header directives in a block that defines any).
# `always` sends them on error pages (404.html) too.
"""


def security_headers(form_action: str = "") -> dict[str, str]:
    """Header name -> value that nginx sends (shop.headers' set for this form_action)."""
    from shop.headers import security_headers

    return security_headers(form_action)


def header_snippet(headers: dict[str, str], intro: str) -> str:
    """An nginx snippet that adds `headers` on every answer."""
    lines = [f'add_header {name} "{value}" always;' for name, value in headers.items()]
    return intro + "\n".join(lines) + "\n"


def hide_upstream_headers(headers: dict[str, str]) -> str:
    """`proxy_hide_header` for every header the security-headers snippet adds."""
    return "\n".join(f"    proxy_hide_header {name};" for name in headers)


def stats_header_snippets(site: dict[str, str]) -> dict[str, str]:
    """stats-headers.conf and stats-dashboard-headers.conf from the site's headers."""
    from analytics.headers import stats_headers

    snippets = {}
    for name, dashboard in (("stats-headers.conf", False), ("stats-dashboard-headers.conf", True)):
        what = "GoAccess's dashboard" if dashboard else "the owner's statistics under /stats/"
        intro = (
            f"# Headers for {what}: rendered by deploy/render.py from\n"
            "# shop/headers.py and analytics/headers.py; edit those, not this file.\n"
        )
        snippets[name] = header_snippet(stats_headers(site, dashboard=dashboard), intro)
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
) -> Path:
    """Write the nginx files into `out`; return the file to enable (itfixe.conf).

    With `listen` (e.g. "127.0.0.1:8080") the site is served over plain HTTP there
    (itfixe-local.conf); without it, the HTTPS config for the real host.
    """
    headers = security_headers(shop.site.form_action)
    out = out.resolve()
    access_logs = tuple(access_logs)
    names = list(server_names) or [default_server_name(shop)]
    values = {
        "NGINX_DIR": str(out),
        "SITE_ROOT": site_root.rstrip("/") or "/",
        "HANDLER_ADDR": handler,
        "LOG_DIR": log_dir.rstrip("/"),
        "ACCESS_LOG": access_log_lines(log_dir.rstrip("/"), access_logs),
        "HIDE_UPSTREAM_HEADERS": hide_upstream_headers(headers),
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
        header_snippet(headers, SNIPPET_INTRO), encoding="utf-8"
    )
    for name, text in stats_header_snippets(headers).items():
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
    from shop.files import partial_path, replaced_whole

    if not re.fullmatch(r"[\w.@-]+", user):
        raise RenderError(f"user name {user!r}: use letters, digits and . _ @ - only")
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    lines = [line for line in lines if line.split(":", 1)[0] != user] + [f"{user}:{hashed}"]
    try:
        with replaced_whole(path, mode=0o640 if group else 0o600) as sink:
            if group:  # before a hash is in it
                shutil.chown(partial_path(path), group=group)
            sink.write(("\n".join(lines) + "\n").encode("utf-8"))
    except (LookupError, PermissionError) as e:
        raise RenderError(f"cannot give the file to group {group}: {e}") from None


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
    from repairs.settings import default_origins
    from shop.headers import origin_of

    site_origin = origin_of(shop.site.url)
    site_url = env.get("REPAIRS_SITE_URL", "").strip().rstrip("/")
    allowed = [o.strip().rstrip("/") for o in env.get("REPAIRS_ALLOWED_ORIGINS", "").split(",")]
    if not any(allowed):
        allowed = list(default_origins(site_url, shop.site.url))
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
    from shop.headers import origin_of
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

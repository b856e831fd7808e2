"""What the deployment tests run: the repo's nginx config rendered for a temporary folder and run
by Debian's nginx, `repairs serve` as a subprocess (handlers.Served), and Chromium reaching the site by its real
host name (resolved to loopback). Imported as `e2e.harness`."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from handlers import Served, stop_process
from support import CHROMIUM, CHROMIUM_ARGS, ROOT, free_port, wait_for_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# A browser's user agent: the analytics tool counts HeadlessChrome as a bot.
DESKTOP_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)

# The parts of nginx.conf that Debian's package ships and a real host already has; the site
# files under test are included from the rendered deploy/nginx config.
MAIN_CONF = """\
daemon off;
{user}
worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/nginx-main-error.log;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    {extra}
    include {site_conf};
}}
"""


@functools.cache
def load_render():
    """deploy/render.py as a module (deploy/ is scripts, not an installed package)."""
    spec = importlib.util.spec_from_file_location("deploy_render", ROOT / "deploy" / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def security_headers() -> dict[str, str]:
    """The headers nginx's rendered security-headers.conf adds (form_action a path)."""
    return load_render().security_headers()


@dataclass
class Nginx:
    url: str
    port: int
    conf_dir: Path
    log_dir: Path

    def log(self, name: str = "access.log") -> Path:
        return self.log_dir / name


@contextlib.contextmanager
def run_nginx(
    tmp: Path,
    site: Path,
    *,
    handler_port: int,
    access_logs=("combined", "anonymised"),
    extra_http: str = "",
    **render_options,
) -> Iterator[Nginx]:
    """Render the repo's config (plain-HTTP variant) for `tmp` and run nginx in the foreground.

    `extra_http`: test-only lines for nginx.conf's http block; `render_options` go to
    render_nginx (e.g. stats_root, stats_passwords).
    """
    render = load_render()
    from shop import config

    port = free_port()
    run, logs = tmp / "run", tmp / "logs"
    run.mkdir(parents=True, exist_ok=True)
    logs.mkdir(exist_ok=True)
    site_conf = render.render_nginx(
        tmp / "conf",
        config.load(ROOT / "shop.toml"),
        listen=f"127.0.0.1:{port}",
        site_root=str(site),
        handler=f"127.0.0.1:{handler_port}",
        log_dir=str(logs),
        access_logs=access_logs,
        **render_options,
    )
    with nginx_process(tmp, run, site_conf, port, extra_http):
        yield Nginx(f"http://127.0.0.1:{port}", port, tmp / "conf", logs)


@contextlib.contextmanager
def nginx_process(tmp: Path, run: Path, site_conf: Path, port: int, extra_http: str = ""):
    """Debian's nginx in the foreground with MAIN_CONF around `site_conf`, until the block ends."""
    # Workers of a root master drop to `nobody`, who may not read pytest's 0700 folders.
    user = "user root;" if os.geteuid() == 0 else ""
    main = tmp / "nginx.conf"
    main.write_text(
        MAIN_CONF.format(user=user, run=run, site_conf=site_conf, extra=extra_http),
        encoding="utf-8",
    )
    check = subprocess.run([NGINX, "-t", "-p", str(run), "-c", str(main)], capture_output=True)
    assert check.returncode == 0, check.stderr.decode()
    out = tmp / "nginx.out"
    with open(out, "wb") as sink:
        proc = subprocess.Popen(
            [NGINX, "-p", str(run), "-c", str(main)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, proc, "nginx", out)
        yield proc
    finally:
        stop_process(proc, timeout=10)


@contextlib.contextmanager
def run_handler(tmp: Path, *, smtp_port: int, site_origin: str) -> Iterator[Served]:
    """`repairs serve` on a free loopback port, mailing to the SMTP sink."""
    env = {
        "SHOP_CONFIG": str(ROOT / "shop.toml"),
        "REPAIRS_DB": str(tmp / "repairs.sqlite3"),
        "REPAIRS_SMTP_HOST": "127.0.0.1",
        "REPAIRS_SMTP_PORT": str(smtp_port),
        "REPAIRS_SMTP_TLS": "none",
        "REPAIRS_OWNER_EMAIL": "owner@itfixe.example",
        "REPAIRS_ALLOWED_ORIGINS": site_origin,
        "REPAIRS_SITE_URL": site_origin,
    }
    with Served(env, log=tmp / "repairs.out") as handler:
        yield handler


@contextlib.contextmanager
def run_site_preview(tmp: Path, site: Path) -> Iterator[str]:
    """`repairs serve --site` as `make demo` runs it (mails as files); yields its base URL."""
    env = {"SHOP_CONFIG": str(ROOT / "shop.toml"), "REPAIRS_DB": str(tmp / "preview.sqlite3")}
    args = ("--site", str(site), "--mail-dir", str(tmp / "mail"))
    with Served(env, args=args, log=tmp / "preview.out") as preview:
        yield preview.url


@contextlib.contextmanager
def browser_for_host(playwright, host: str, port: int):
    """Chromium that resolves `host` to nginx on loopback, so the site has its real origin."""
    rules = f"--host-resolver-rules=MAP {host}:80 127.0.0.1:{port}"
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, rules])
    try:
        yield browser
    finally:
        browser.close()


def unit_commands(unit: Path, paths: dict[str, str]) -> list[list[str]]:
    """The ExecStart= command lines of a systemd unit as argv lists, with `paths` replaced.

    Undoes systemd's own escapes ($$ and %%); shlex splits the quoting as systemd does here.
    """
    commands = []
    for line in unit.read_text().replace("\\\n", " ").splitlines():
        if line.startswith("ExecStart="):
            command = line.removeprefix("ExecStart=").replace("$$", "$").replace("%%", "%")
            for old, new in paths.items():
                command = command.replace(old, new)
            commands.append(shlex.split(command))
    return commands

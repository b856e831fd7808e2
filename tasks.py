"""Invoke tasks: build, serve and publish the site, regenerate the stats, run the demo and the tests.

Laid out as Pelican's quickstart writes tasks.py; `invoke --list` shows them all.
"""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from invoke import task
from invoke.main import program
from pelican import main as pelican_main
from pelican.server import ComplexHTTPRequestHandler, RootedHTTPServer
from pelican.settings import DEFAULT_CONFIG, get_settings_from_file

from shop import config as shop_config
from shop import news
from shop.news import NEWS_FOLDER

ROOT = Path(__file__).resolve().parent
SETTINGS_FILE_BASE = "pelicanconf.py"
SETTINGS = {**DEFAULT_CONFIG, **get_settings_from_file(SETTINGS_FILE_BASE)}
SHOP = shop_config.load()

CONFIG = {
    "settings_base": SETTINGS_FILE_BASE,
    "settings_publish": "publishconf.py",
    "deploy_path": SETTINGS["OUTPUT_PATH"],
    # Where `invoke publish` copies the site: [publish] in shop.toml, the one place to set it.
    "rsync_target": SHOP.publish.rsync_target,
    "ssh_port": SHOP.publish.ssh_port,
    "host": "127.0.0.1",
    "port": 8000,
}

# What `make test` needs besides Python packages (Debian names).
SYSTEM_PACKAGES = {
    "chromium": "chromium",
    "goaccess": "goaccess",
    "nginx": "nginx-light",
    "sqlite3": "sqlite3",
    "systemd-analyze": "systemd",
    "openssl": "openssl",
}
DEMO = ROOT / ".demo"
NPM_PREFIX = ROOT / ".cache" / "npm"
NPM_PACKAGES = ["axe-core@4"]


@task
def clean(c):
    """Remove generated files."""
    if os.path.isdir(CONFIG["deploy_path"]):
        shutil.rmtree(CONFIG["deploy_path"])
        os.makedirs(CONFIG["deploy_path"])


@task
def build(c):
    """Build the local version of the site into output/."""
    pelican_run("-s {settings_base}".format(**CONFIG))


@task
def rebuild(c):
    """`build` with the delete switch."""
    pelican_run("-d -s {settings_base}".format(**CONFIG))


@task
def regenerate(c):
    """Rebuild the site whenever a file changes."""
    pelican_run("-r -s {settings_base}".format(**CONFIG))


@task
def serve(c):
    """Serve output/ at http://127.0.0.1:8000/ (static files only; `invoke demo` adds the form)."""

    class AddressReuseTCPServer(RootedHTTPServer):
        allow_reuse_address = True

    server = AddressReuseTCPServer(
        CONFIG["deploy_path"], (CONFIG["host"], CONFIG["port"]), ComplexHTTPRequestHandler
    )
    sys.stderr.write("Serving at http://{host}:{port}/ ...\n".format(**CONFIG))
    server.serve_forever()


@task
def preview(c):
    """Build the production version of the site (publishconf.py)."""
    pelican_run("-s {settings_publish}".format(**CONFIG))


@task
def publish(c):
    """Build the production site and rsync it to [publish] rsync_target in shop.toml."""
    if not CONFIG["rsync_target"]:
        sys.exit(
            "No host to publish to: set rsync_target in the [publish] section of "
            f"{SHOP.path} (for example deploy@www.example.nl:/var/www/site)."
        )
    pelican_run("-s {settings_publish}".format(**CONFIG))
    c.run(
        'rsync --delete --exclude ".DS_Store" -pthrvz -c -e "ssh -p {ssh_port}" {src} {dst}'.format(
            src=shlex.quote(CONFIG["deploy_path"].rstrip("/") + "/"),
            dst=shlex.quote(CONFIG["rsync_target"]),
            **CONFIG,
        )
    )


@task(
    help={
        "title": "the Dutch title",
        "title_en": "the English title",
        "folder": "where articles live (default: content/news)",
    }
)
def new_article(c, title, title_en, folder=str(NEWS_FOLDER)):
    """Start a news article: content/news/<date>-<slug>.nl.md and .en.md with their metadata.

    Example: invoke new-article --title "Nieuwe openingstijden" --title-en "New opening hours"
    """
    try:
        files = news.new_article(Path(folder), title, title_en)
    except (ValueError, news.ArticleExists) as e:
        sys.exit(f"new-article: {e}")
    for file in files:
        print(file)
    print("Write the text in both files, then `invoke build` and look at it with `invoke serve`.")


@task
def check_deploy(c, env="/etc/itfixe/repairs.env"):
    """Check that the built site's form, its CSP and the handler's allowed origins agree."""
    c.run(
        f"{shlex.quote(sys.executable)} deploy/render.py check --env {shlex.quote(env)} "
        f"--site {shlex.quote(CONFIG['deploy_path'])}"
    )


@task
def stats(c):
    """Regenerate the visitor statistics from the logs in shop.toml [analytics] (incremental)."""
    a = SHOP.analytics
    logs = " ".join(shlex.quote(p) for p in a.logs)
    c.run(f"{_bin('analytics')} report {logs} --state {a.state_dir} --out {a.stats_dir}")


@task
def demo(c, port=8000):
    """Build the site, a stats report from a generated sample log, and serve both with the form.

    Everything lives in .demo/: the site (stats under /stats/), the requests database and the
    mails the form sends (as .eml files), so nothing is sent and nothing real is touched.
    """
    site_dir, mail_dir, log = DEMO / "site", DEMO / "mail", DEMO / "access.log"
    mail_dir.mkdir(parents=True, exist_ok=True)
    pelican_run("-s {settings_base} -o {out}".format(out=shlex.quote(str(site_dir)), **CONFIG))
    demo_stats(c, log, site_dir / "stats", mail_dir)
    print(
        f"""
  Site:        http://127.0.0.1:{port}/
  Repair form: http://127.0.0.1:{port}/reparatie-aanvragen/
  Stats:       http://127.0.0.1:{port}/stats/ (from a generated sample log, {log})
  Mails:       written as .eml files to {mail_dir} (also the owner's weekly summary)
  Requests:    {DEMO / "repairs.sqlite3"} (REPAIRS_DB={DEMO / "repairs.sqlite3"} {_bin("repairs")} list)
  Stop with Ctrl-C.
""",
        flush=True,
    )
    env = {"REPAIRS_DB": str(DEMO / "repairs.sqlite3")}
    c.run(
        f"{_bin('repairs')} serve --host 127.0.0.1 --port {int(port)} --site {site_dir} "
        f"--mail-dir {mail_dir}",
        env=env,
        pty=False,
    )


def demo_stats(c, log: Path, out: Path, mail_dir: Path):
    """The demo's report from a sample log generated once (the last 28 days), read into `out`,
    and last week's summary mail, written into `mail_dir`."""
    import datetime as dt

    from analytics.sample import generate_log

    if not log.exists():
        generate_log(log, 20_000, seed=1, start=dt.date.today() - dt.timedelta(days=28), days=28)
    goaccess = "" if shutil.which("goaccess") else "--no-goaccess"
    log_arg = shlex.quote(str(log))
    report = c.run(f"{_bin('analytics')} report {log_arg} --out {shlex.quote(str(out))} {goaccess}")
    summary = c.run(
        f"{_bin('analytics')} summary {log_arg} --mail-dir {shlex.quote(str(mail_dir))}"
    )
    return [report, summary]


@task
def install_test_deps(c):
    """Install what the tests need outside Python: Debian packages (as root) and axe-core."""
    missing = [pkg for cmd, pkg in SYSTEM_PACKAGES.items() if not shutil.which(cmd)]
    if missing:
        if os.geteuid() != 0:
            sys.exit(
                f"The tests need these Debian packages: sudo apt-get install {' '.join(missing)}"
            )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)
    if not (NPM_PREFIX / "node_modules" / "axe-core").is_dir():
        if not shutil.which("npm"):
            sys.exit("The browser tests need npm for axe-core: apt-get install npm")
        c.run(
            f"npm install --silent --no-audit --no-fund --prefix {NPM_PREFIX} {' '.join(NPM_PACKAGES)}"
        )


@task(pre=[install_test_deps])
def test(c):
    """Lint (ruff) and run the whole test suite."""
    py = shlex.quote(sys.executable)
    c.run(f"{py} -m ruff check .")
    c.run(f"{py} -m ruff format --check .")
    c.run(f"{py} -m pytest")


def _bin(name: str) -> str:
    """A console script of this project, from the virtualenv that runs invoke."""
    return shlex.quote(str(Path(sys.executable).parent / name))


def pelican_run(cmd):
    cmd += " " + program.core.remainder  # pass extra args through to pelican
    pelican_main(shlex.split(cmd))

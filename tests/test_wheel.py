"""The project as the deploy guide installs it: a built wheel in a venv of its own, run from a
folder that is not the checkout, with SHOP_CONFIG naming the shop's file.

The new venv gets its dependencies from the test's own environment by one path line (.pth), so
nothing is downloaded; .pth files in that folder are not read from there, so the checkout's
editable install does not leak in: what the handler renders must come with the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
from handlers import Served
from support import ROOT, form, smtp_env, write_shop_toml

from shop.headers import security_headers

NOT_SOURCE = (".git", ".venv", ".cache", ".demo", "output", "test-artifacts", "build", "*.egg-info")
PIP = [sys.executable, "-m", "pip", "-q"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """bin/ of a fresh venv with the project's wheel installed (no editable finder)."""
    work = tmp_path_factory.mktemp("wheel")
    # setuptools builds in the source folder (build/, *.egg-info): build a copy, not the checkout.
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    build = subprocess.run(
        [
            *PIP,
            "wheel",
            "--no-deps",
            "--no-build-isolation",  # the dev extra's setuptools: no index needed
            "--wheel-dir",
            str(work / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = (work / "dist").glob("itfixe_site-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (purelib,) = venv.glob("lib/python*/site-packages")
    (purelib / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    install = subprocess.run(
        [
            *PIP,
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr
    return venv / "bin"


def test_the_checkout_is_not_what_runs(installed, tmp_path):
    """The guard of this file: the venv imports the installed copy, not the checkout; and without
    SHOP_CONFIG it looks for shop.toml in the working folder, never next to its code."""
    code = "import repairs, shop.config as c; print(repairs.__file__); print(c.default_path())"
    env = {k: v for k, v in os.environ.items() if k != "SHOP_CONFIG"}
    where, default = subprocess.run(
        [installed / "python", "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert str(ROOT) not in where and "site-packages" in where
    assert default == str(tmp_path / "shop.toml")


def test_installed_handler_answers_with_themed_pages(installed, tmp_path, smtp_sink):
    (tmp_path / "etc").mkdir()
    shop_toml = write_shop_toml(
        tmp_path / "etc" / "shop.toml", repairs={"accepted_requests_per_hour": 0}
    )
    env = {
        "SHOP_CONFIG": str(shop_toml),
        "REPAIRS_DB": str(tmp_path / "repairs.sqlite3"),
        **smtp_env(smtp_sink),
    }
    served = Served(env, command=[str(installed / "repairs")], cwd=tmp_path)
    with served:
        log = served.log
        wrong = served.post(form(email="geen"))
        assert wrong.status_code == 422, log.read_text()
        assert 'href="/theme/css/style.css"' in wrong.text  # the site's base.html
        csp = security_headers()["Content-Security-Policy"]
        assert wrong.headers["content-security-policy"] == csp  # shop.headers, in the wheel
        sent = served.post(form())
        assert sent.status_code == 200 and "R-" in sent.text, log.read_text()
        assert 'href="/theme/css/style.css"' in sent.text


def test_installed_analytics_reports_a_small_log(installed, tmp_path):
    from analytics.sample import generate_log

    log = tmp_path / "access.log"
    generate_log(log, 300, seed=1)
    env = {**os.environ, "SHOP_CONFIG": str(write_shop_toml(tmp_path / "shop.toml"))}
    run = subprocess.run(
        [installed / "analytics", "report", str(log), "--out", "report", "--no-goaccess"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    stats = json.loads((tmp_path / "report" / "stats.json").read_text(encoding="utf-8"))
    assert stats and (tmp_path / "report" / "index.html").is_file()

"""The deploy kit without servers: the IP mask nginx writes, retention in logrotate, the systemd
units, the render script's CLI, and a guide that names every file."""

from __future__ import annotations

import ipaddress
import re
import subprocess
import sys

import pytest
from e2e.harness import load_render
from handlers import BIN
from hypothesis import given
from hypothesis import strategies as st
from support import ROOT, write_shop_toml

from shop import config

DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service")) + sorted(
    (DEPLOY / "systemd").glob("*.timer")
)


def apply_map(rules: str, address: str) -> str:
    """What nginx's `map $remote_addr` does with these rules: first matching regex wins."""
    for line in rules.splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        pattern, value = parts[0].strip('"')[1:], parts[1].rstrip(";")
        match = re.search(pattern.replace("(?<", "(?P<"), address)
        if match:
            captures = {str(i): group for i, group in enumerate(match.groups(), 1)}
            captures |= match.groupdict() | {"remote_addr": address}
            return re.sub(r"\$\{?(\w+)\}?", lambda m, c=captures: c[m[1]] or "", value)
    return "0.0.0.0"


def is_cut_to(masked: str, address: str, prefix: int) -> bool:
    """`masked` is the /prefix network of `address`, or a shorter one (cut further is safe)."""
    ip = ipaddress.ip_address(address)
    masked_ip = ipaddress.ip_address(masked)
    if masked_ip.version == 4:  # an IPv4-mapped address counts as IPv4
        ip = getattr(ip, "ipv4_mapped", None) or ip
    return any(
        masked_ip == ipaddress.ip_network(f"{ip}/{bits}", strict=False).network_address
        for bits in range(prefix, -1, -1)
    )


@pytest.mark.parametrize(
    ("v4", "v6", "address", "masked"),
    [
        (24, 32, "192.0.2.123", "192.0.2.0"),
        (24, 32, "::ffff:192.0.2.123", "192.0.2.0"),
        (24, 32, "2001:db8:1:2::7", "2001:db8::"),
        (24, 32, "2001::1", "2001::"),
        (24, 32, "2a02:a45e:b12:1:2:3:4:5", "2a02:a45e::"),
        (24, 32, "::1", "::"),
        (16, 32, "192.0.2.123", "192.0.0.0"),
        (16, 32, "2a02:a45e:b12:1:2:3:4:5", "2a02:a45e::"),
        (8, 16, "192.0.2.123", "192.0.0.0"),
        (8, 16, "2001:db8:1:2::7", "2001::"),
        (24, 40, "2a02:a45e:b12:1:2:3:4:5", "2a02:a45e:b00::"),
        (24, 40, "2a02:a45e:1b12:1:2:3:4:5", "2a02:a45e:1b00::"),
        (24, 40, "2a02:a45e:fb12::5", "2a02:a45e:fb00::"),
        (24, 40, "2a02:a45e:ab::5", "2a02:a45e::"),
        (24, 40, "2a02:a45e::5", "2a02:a45e::"),
        (24, 36, "2a02:a45e:fb12::5", "2a02:a45e:f000::"),
        (24, 34, "2a02:a45e:fb12::5", "2a02:a45e:c000::"),
        (24, 34, "2a02:a45e:3b12::5", "2a02:a45e::"),
    ],
)
def test_ip_mask_rules(v4, v6, address, masked):
    assert apply_map(load_render().ip_mask_rules(v4, v6), address) == masked


@given(
    st.lists(
        st.sampled_from([0, 0, 0, 1, 0xDB8, 0xFFFF]) | st.integers(0, 0xFFFF),
        min_size=8,
        max_size=8,
    ),
    st.integers(16, 40),
)
def test_ip_mask_never_keeps_more_than_the_prefix(hextets, prefix):
    """nginx prints IPv6 as RFC 5952 text, as Python's ipaddress does."""
    address = str(ipaddress.IPv6Address(b"".join(h.to_bytes(2, "big") for h in hextets)))
    masked = apply_map(load_render().ip_mask_rules(24, prefix), address)
    assert is_cut_to(masked, address, prefix), (address, masked)
    if hextets[0] != 0:
        # Addresses outside ::/16 are cut exactly at the prefix.
        network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
        assert ipaddress.ip_address(masked) == network.network_address, (address, masked)


def test_unaligned_ipv4_prefix_is_refused_with_a_clear_message():
    render = load_render()
    with pytest.raises(render.RenderError, match=r"ipv4_prefix = 20.*whole octets"):
        render.ip_mask_rules(20, 32)


@pytest.mark.parametrize(("v4", "v6"), [(32, 32), (24, 48), (24, 64), (24, 128)])
def test_prefix_keeping_too_much_is_refused_with_a_clear_message(v4, v6):
    render = load_render()
    with pytest.raises(render.RenderError, match=r"allowed are IPv4 /8 to /24 and IPv6 /16 to /40"):
        render.ip_mask_rules(v4, v6)


@pytest.mark.parametrize("days", [None, 1, 30])
def test_logrotate_deletes_raw_logs_after_the_configured_days(tmp_path, days):
    """The number the privacy statement prints is the one logrotate obeys."""
    path = ROOT / "shop.toml"
    if days is not None:
        path = write_shop_toml(tmp_path / "shop.toml", privacy={"raw_log_retention_days": days})
    shop = config.load(path)
    text = load_render().render_logrotate(shop)
    keep = shop.privacy.raw_log_retention_days - 1
    assert re.search(rf"^\s+rotate {keep}$", text, re.M)
    assert re.search(rf"^\s+maxage {keep}$", text, re.M)
    assert re.search(r"^\s+daily$", text, re.M)
    assert text.startswith("#") and "/var/log/nginx/itfixe/*.log {" in text


def test_logs_live_where_the_stats_unit_and_logrotate_look():
    """nginx writes, logrotate deletes and the nightly report reads the same folder."""
    render = load_render()
    stats_unit = (DEPLOY / "systemd" / "analytics-stats.service").read_text()
    assert f'"{render.LOG_DIR}/access*.log*"' in stats_unit
    assert render.LOG_DIR in render.render_logrotate(config.load(ROOT / "shop.toml"))


def test_stats_unit_writes_the_report_where_nginx_serves_it():
    render = load_render()
    unit = (DEPLOY / "systemd" / "analytics-stats.service").read_text()
    assert f"--out {render.STATS_ROOT} " in unit
    lines = set(unit.splitlines())
    assert {f"ReadWritePaths={render.STATS_ROOT}", "UMask=0027"} <= lines
    assert "SupplementaryGroups=adm www-data" in lines  # nginx's group may read it
    guide = (ROOT / "docs" / "deploy.md").read_text()
    assert f"install -d -m 2770 -o root -g www-data {render.STATS_ROOT}" in guide


def test_stats_password_refuses_a_short_or_mistyped_password(tmp_path):
    script = [sys.executable, str(DEPLOY / "render.py"), "stats-password"]
    target = tmp_path / "stats.passwd"
    short = subprocess.run(
        [*script, "--file", str(target)], input="kort\n", capture_output=True, text=True
    )
    assert short.returncode == 1
    assert "at least 12 characters" in short.stderr and "Traceback" not in short.stderr
    assert not target.exists()


def test_stats_password_keeps_other_users_and_replaces_its_own(tmp_path):
    render = load_render()
    target = tmp_path / "stats.passwd"
    render.write_password_file(target, "owner", render.hash_password("first password!"), None)
    render.write_password_file(target, "helper", render.hash_password("helper password"), None)
    render.write_password_file(target, "owner", render.hash_password("second password"), None)
    users = [line.split(":")[0] for line in target.read_text().splitlines()]
    assert users == ["helper", "owner"]
    (owner,) = (line for line in target.read_text().splitlines() if line.startswith("owner:"))
    salt = owner.split("$")[3]
    again = subprocess.run(
        ["openssl", "passwd", "-6", "-stdin", "-salt", f"rounds={render.PASSWORD_ROUNDS}${salt}"],
        input="second password\n",
        capture_output=True,
        text=True,
    )
    assert owner == f"owner:{again.stdout.strip()}"  # the same hash crypt() will compute
    assert target.stat().st_mode & 0o777 == 0o600  # no group given: root only


def test_stats_unit_keeps_the_hash_keys_in_memory_between_runs():
    """The visitor-hash keys go to a runtime folder (tmpfs) that outlives a run, not to disk."""
    lines = set((DEPLOY / "systemd" / "analytics-stats.service").read_text().splitlines())
    required = {
        "RuntimeDirectory=itfixe-analytics",
        "RuntimeDirectoryMode=0700",
        "RuntimeDirectoryPreserve=yes",
        "StateDirectory=itfixe-stats",
    }
    assert required <= lines
    assert not any("--keys-dir" in line for line in lines)  # $RUNTIME_DIRECTORY is the default


def test_handler_unit_is_confined():
    unit = (DEPLOY / "systemd" / "repairs.service").read_text()
    lines = set(unit.splitlines())
    required = {
        "User=repairs",
        "StateDirectory=repairs",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "EnvironmentFile=/etc/itfixe/repairs.env",
        "Environment=REPAIRS_DB=/var/lib/repairs/repairs.sqlite3",
        "ExecStart=/opt/itfixe/.venv/bin/repairs serve --host 127.0.0.1 --port 8001",
    }
    assert required <= lines
    # nginx proxies to the address the unit listens on.
    assert load_render().HANDLER_ADDR == "127.0.0.1:8001"


def test_env_example_sets_only_known_settings():
    known = set(re.findall(r"REPAIRS_[A-Z_]+", (ROOT / "repairs" / "settings.py").read_text()))
    example = (DEPLOY / "systemd" / "repairs.env.example").read_text()
    keys = set(re.findall(r"^(REPAIRS_[A-Z_]+)=", example, re.M))
    assert keys <= known
    assert {"REPAIRS_SMTP_HOST", "REPAIRS_ALLOWED_ORIGINS", "REPAIRS_SITE_URL"} <= keys


def test_systemd_units_verify(tmp_path):
    """The units parse, and their commands exist (pointed at this checkout's .venv)."""
    for unit in UNITS:
        text = unit.read_text().replace("/opt/itfixe/.venv/bin/", f"{BIN}/")
        (tmp_path / unit.name).write_text(text)
    check = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(tmp_path / u.name) for u in UNITS)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    assert check.stderr == ""


def test_render_cli(tmp_path):
    script = [sys.executable, str(DEPLOY / "render.py")]
    run = subprocess.run(
        [*script, "nginx", "--out", str(tmp_path / "conf"), "--listen", "127.0.0.1:8080"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(tmp_path / "conf" / "itfixe-local.conf")
    assert (tmp_path / "conf" / "security-headers.conf").is_file()
    bad = write_shop_toml(tmp_path / "shop.toml", privacy={"ipv4_prefix": 20})
    run = subprocess.run(
        [*script, "--shop-toml", str(bad), "nginx", "--out", str(tmp_path / "bad")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert run.stderr.startswith("Error: ") and "ipv4_prefix = 20" in run.stderr
    assert "Traceback" not in run.stderr


def test_guide_names_every_deploy_file():
    guide = (ROOT / "docs" / "deploy.md").read_text()
    files = [p for p in DEPLOY.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    missing = [str(p.relative_to(ROOT)) for p in files if str(p.relative_to(ROOT)) not in guide]
    assert not missing


def test_check_agrees_for_the_shipped_example(built_site):
    render = load_render()
    env = render.read_env_file(DEPLOY / "systemd" / "repairs.env.example")
    assert render.origin_problems(config.load(ROOT / "shop.toml"), env, built_site) == []


def test_check_finds_where_site_and_handler_disagree(built_site, tmp_path):
    render = load_render()
    env = {"REPAIRS_ALLOWED_ORIGINS": "https://forms.itfixe.example"}
    moved = write_shop_toml(
        tmp_path / "shop.toml",
        site={"form_action": "https://forms.itfixe.example/api/repair-request"},
    )
    problems = render.origin_problems(config.load(moved), env, built_site)
    assert len(problems) == 3
    assert "lacks the site's origin https://www.itfixe.example" in problems[0]
    assert "the form does not post to" in problems[1]
    assert "form-action does not allow https://forms.itfixe.example" in problems[2]
    env_file = tmp_path / "repairs.env"
    env_file.write_text(
        "# the handler's host by mistake\nREPAIRS_ALLOWED_ORIGINS=https://forms.itfixe.example\n"
    )
    script = [sys.executable, str(DEPLOY / "render.py"), "--shop-toml", str(moved)]
    run = subprocess.run([*script, "check", "--env", str(env_file)], capture_output=True, text=True)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [problems[0]]  # without --site only the origins


def test_anonymised_only_config_writes_no_full_ip(tmp_path):
    """Only the masked log, and an error log that never names a client."""
    conf = load_render().render_nginx(
        tmp_path, config.load(ROOT / "shop.toml"), access_logs=["anonymised"]
    )
    site = (conf.parent / "itfixe-site.conf").read_text()
    logs = re.findall(r"^(access_log|error_log) (.*);$", site, re.M)
    assert logs == [
        ("access_log", "/var/log/nginx/itfixe/access-anonymised.log itfixe_anonymised"),
        ("error_log", "/var/log/nginx/itfixe/error.log emerg"),
    ]
